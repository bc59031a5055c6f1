// Command refguard-check asks refguard before granting a referral reward.
//
// Go, standard library only. It records the referee's signup (observe),
// then asks for a verdict on the referral (check), both pipelined on one
// connection, and acts on the answer: allow -> grant the reward,
// review -> queue for manual review, deny -> refuse the reward.
//
//	go run . [-s SOCKET] [-id ID] [-referrer-account A] [-referrer-email E]
//	    [-referrer-ip IP] [-referrer-device ID] [-referee-account A]
//	    [-referee-email E] [-referee-ip IP] [-referee-device ID]
//	    [-amount N] [-currency C]
//
// SOCKET defaults to $REFGUARD_SOCKET, then /run/refguard/refguard.sock.
// Exit status: 0 a decision was made, 1 an error reply (code, field and
// msg printed), 2 usage, 3 refguard unreachable (after one retry).
//
// Retries: check is idempotent by id, so after a connection error it is
// resent once with the same id (the stored verdict comes back if the first
// attempt was committed). observe has no id: it is resent only when the
// connection could not be opened, so nothing of it was sent.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"time"
)

const defaultSocket = "/run/refguard/refguard.sock"

// Party is a referrer or referee; empty fields are left out.
type Party struct {
	Account string            `json:"account"`
	Email   string            `json:"email,omitempty"`
	IP      string            `json:"ip,omitempty"`
	Device  map[string]string `json:"device,omitempty"`
}

// Reason is one matched rule of a verdict.
type Reason struct {
	Rule   string `json:"rule"`
	Action string `json:"action"`
	Score  int64  `json:"score"`
	Msg    string `json:"msg,omitempty"`
}

// Reply holds the fields of any reply this program reads.
type Reply struct {
	ID      string   `json:"id"`
	Action  string   `json:"action"`
	Score   int64    `json:"score"`
	Reasons []Reason `json:"reasons"`
	OK      bool     `json:"ok"`
	Seq     int64    `json:"seq"`
	Error   *struct {
		Code  string `json:"code"`
		Field string `json:"field"`
		Msg   string `json:"msg"`
	} `json:"error"`
}

// RefguardError is an error reply.
type RefguardError struct{ Code, Field, Msg string }

func (e *RefguardError) Error() string {
	return fmt.Sprintf("%s (field %s): %s", e.Code, e.Field, e.Msg)
}

// ConnectError means the connection could not be opened: nothing was sent.
type ConnectError struct{ Err error }

func (e *ConnectError) Error() string { return e.Err.Error() }

// Client is one NDJSON connection to refguardd.
type Client struct {
	Path    string
	Timeout time.Duration
	conn    net.Conn
	r       *bufio.Reader
}

func (c *Client) Connect() error {
	c.Close()
	conn, err := net.DialTimeout("unix", c.Path, c.Timeout)
	if err != nil {
		return &ConnectError{err}
	}
	c.conn, c.r = conn, bufio.NewReaderSize(conn, 64*1024)
	return nil
}

func (c *Client) Close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// Pipeline sends every request, then reads one reply per request, in
// order. A goroutine writes while this one reads, so large batches cannot
// deadlock on full socket buffers.
func (c *Client) Pipeline(reqs []interface{}) ([]Reply, error) {
	var payload []byte
	for _, r := range reqs {
		b, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		payload = append(append(payload, b...), '\n')
	}
	c.conn.SetDeadline(time.Now().Add(c.Timeout))
	werr := make(chan error, 1)
	go func() { _, err := c.conn.Write(payload); werr <- err }()
	replies := make([]Reply, 0, len(reqs))
	for range reqs {
		line, err := c.r.ReadBytes('\n')
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("reading reply: %w", err)
		}
		var rep Reply
		if err := json.Unmarshal(line, &rep); err != nil {
			c.Close()
			return nil, fmt.Errorf("reply is not JSON: %q", line)
		}
		replies = append(replies, rep)
	}
	if err := <-werr; err != nil {
		return nil, err
	}
	return replies, nil
}

// CheckReferral sends the signup observe and the check; on a connection
// error it retries once, resending only the (idempotent) check unless the
// connection could not be opened at all.
func CheckReferral(c *Client, observe, check map[string]interface{}) (*Reply, error) {
	reqs := []interface{}{observe, check}
	const retries = 1
	for attempt := 0; ; attempt++ {
		err := c.Connect()
		if err == nil {
			var replies []Reply
			replies, err = c.Pipeline(reqs)
			c.Close()
			if err == nil {
				for _, r := range replies {
					if r.Error != nil {
						return nil, &RefguardError{r.Error.Code, r.Error.Field, r.Error.Msg}
					}
				}
				return &replies[len(replies)-1], nil
			}
			// The observe may have been stored: never send it twice.
			reqs = []interface{}{check}
		}
		if attempt >= retries {
			return nil, err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func main() {
	sock := flag.String("s", "", "socket path (default $REFGUARD_SOCKET, then "+defaultSocket+")")
	id := flag.String("id", "demo-ref-1", "referral id (idempotency key)")
	p := map[string]*string{}
	defaults := map[string]string{
		"referrer-account": "demo-u-17", "referrer-email": "jane.doe@example.com",
		"referrer-ip": "81.2.69.160", "referrer-device": "demo-dev-17",
		"referee-account": "demo-u-9001", "referee-email": "john.roe@example.org",
		"referee-ip": "198.51.100.23", "referee-device": "demo-dev-9001",
	}
	for _, who := range []string{"referrer", "referee"} {
		for _, f := range []string{"account", "email", "ip", "device"} {
			k := who + "-" + f
			p[k] = flag.String(k, defaults[k], who+" "+f)
		}
	}
	amount := flag.Float64("amount", 10, "reward amount")
	currency := flag.String("currency", "EUR", "reward currency")
	flag.Parse()
	if flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	path := *sock
	if path == "" {
		path = os.Getenv("REFGUARD_SOCKET")
	}
	if path == "" {
		path = defaultSocket
	}

	party := func(who string) Party {
		pt := Party{Account: *p[who+"-account"], Email: *p[who+"-email"], IP: *p[who+"-ip"]}
		if d := *p[who+"-device"]; d != "" {
			pt.Device = map[string]string{"id": d}
		}
		return pt
	}
	referrer, referee := party("referrer"), party("referee")
	observe := map[string]interface{}{"op": "observe", "kind": "signup", "account": referee.Account}
	if referee.Email != "" {
		observe["email"] = referee.Email
	}
	if referee.IP != "" {
		observe["ip"] = referee.IP
	}
	if referee.Device != nil {
		observe["device"] = referee.Device
	}
	check := map[string]interface{}{
		"op": "check", "id": *id, "referrer": referrer, "referee": referee,
		"reward": map[string]interface{}{"amount": *amount, "currency": *currency},
	}

	c := &Client{Path: path, Timeout: 10 * time.Second}
	v, err := CheckReferral(c, observe, check)
	if err != nil {
		var re *RefguardError
		if errors.As(err, &re) {
			field := re.Field
			if field == "" {
				field = "-"
			}
			fmt.Fprintf(os.Stderr, "refguard error: code=%s field=%s msg=%s\n", re.Code, field, re.Msg)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "refguard unreachable: %v\n", err)
		os.Exit(3)
	}

	what := map[string]string{"allow": "grant", "review": "queue", "deny": "refuse"}[v.Action]
	fmt.Printf("%s: %s (action=%s score=%d)\n", v.ID, what, v.Action, v.Score)
	for _, r := range v.Reasons {
		msg := ""
		if r.Msg != "" {
			msg = ": " + r.Msg
		}
		fmt.Printf("  reason: %s %s %+d%s\n", r.Rule, r.Action, r.Score, msg)
	}
	switch what {
	case "grant":
		fmt.Printf("granting the reward of %g %s\n", *amount, *currency)
	case "queue":
		fmt.Println("queued for manual review")
	default:
		fmt.Println("refusing the reward")
	}
}
