"""scen_world: the simulated world behind refguard's scenario generator.

People live in countries (time zones, languages, mail providers, phone
numbering), own devices (phones, laptops, tablets; browser or app) and
reach the service through networks (home broadband, mobile carriers with
carrier-grade NAT, offices, campuses, VPNs, public Wi-Fi, and the proxies
fraudsters rent). Every draw comes from one seeded random.Random, and
nothing iterates over a set or a hash-ordered structure, so a seed gives
the same world byte for byte.

Devices and address ranges come from the frozen pool (data/pool.json,
made by freeze/freeze.js from npm data packages): see docs/eval.md.
"""

import bisect
import hashlib
import ipaddress
import json
import os
import random
import re

DAY = 86400 * 1000
HOUR = 3600 * 1000
MINUTE = 60 * 1000

POOL_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                         "data", "pool.json")


def load_pool(path=POOL_PATH):
    with open(path, encoding="utf-8") as f:
        pool = json.load(f)
    if pool.get("format") != 1:
        raise ValueError("%s: unknown pool format %r" % (path,
                                                         pool.get("format")))
    return pool


# ---- random helpers ---------------------------------------------------

def pick(rng, weighted):
    """One key of a list of (value, weight) pairs."""
    total = sum(w for _, w in weighted)
    x = rng.random() * total
    for v, w in weighted:
        x -= w
        if x < 0:
            return v
    return weighted[-1][0]


def between(rng, lo, hi):
    return lo + (hi - lo) * rng.random()


def chance(rng, p):
    return rng.random() < p


def hexid(rng, n):
    return "%0*x" % (n, rng.getrandbits(4 * n))


def put(d, **fields):
    """Set in d the fields that have a value (requests leave the others
    out), in the order given; returns d."""
    for k, v in fields.items():
        if v:
            d[k] = v
    return d


def digest(*parts, n=16):
    """A stable hash of the parts (canvas values, derived names)."""
    h = hashlib.sha1("\x1f".join(str(p) for p in parts).encode())
    return h.hexdigest()[:n]


# ---- countries ----------------------------------------------------------
# tz: (zone, UTC offset in minutes, weight); langs: (navigator.languages,
# weight); mail: (domain, weight); phone: (country code, mobile national
# number templates, # = digit); names: a name group below.

COUNTRIES = {
    "US": dict(tz=[("America/New_York", -300, 45), ("America/Chicago", -360, 30),
                   ("America/Denver", -420, 7), ("America/Los_Angeles", -480, 18)],
               langs=[("en-US,en", 85), ("es-US,es,en", 9), ("en-US", 6)],
               mail=[("gmail.com", 55), ("yahoo.com", 12), ("outlook.com", 8),
                     ("hotmail.com", 7), ("icloud.com", 10), ("aol.com", 3),
                     ("comcast.net", 2), ("protonmail.com", 1)],
               phone=("1", ["2#########", "3#########", "4#########", "5#########",
                            "6#########", "7#########", "8#########", "9#########"]),
               names="en", cur="USD", reward=10, weight=22),
    "CA": dict(tz=[("America/Toronto", -300, 55), ("America/Vancouver", -480, 20),
                   ("America/Edmonton", -420, 15), ("America/Halifax", -240, 10)],
               langs=[("en-CA,en", 65), ("fr-CA,fr,en", 25), ("en-US,en", 10)],
               mail=[("gmail.com", 55), ("hotmail.com", 12), ("outlook.com", 8),
                     ("yahoo.ca", 7), ("icloud.com", 8), ("rogers.com", 3),
                     ("shaw.ca", 3)],
               phone=("1", ["4#########", "5#########", "6#########", "9#########"]),
               names="en", cur="CAD", reward=15, weight=5),
    "MX": dict(tz=[("America/Mexico_City", -360, 80), ("America/Tijuana", -480, 10),
                   ("America/Monterrey", -360, 10)],
               langs=[("es-MX,es", 85), ("es-419,es", 10), ("en-US,en", 5)],
               mail=[("gmail.com", 60), ("hotmail.com", 25), ("outlook.com", 8),
                     ("yahoo.com.mx", 5)],
               phone=("52", ["55########", "33########", "81########"]),
               names="es", cur="MXN", reward=200, weight=5),
    "BR": dict(tz=[("America/Sao_Paulo", -180, 85), ("America/Manaus", -240, 8),
                   ("America/Fortaleza", -180, 7)],
               langs=[("pt-BR,pt", 90), ("pt-BR,pt,en-US,en", 10)],
               mail=[("gmail.com", 75), ("hotmail.com", 12), ("outlook.com", 5),
                     ("yahoo.com.br", 5)],
               phone=("55", ["119########", "219########", "319########"]),
               names="pt", cur="BRL", reward=50, weight=7),
    "GB": dict(tz=[("Europe/London", 0, 100)],
               langs=[("en-GB,en", 85), ("en-US,en", 12), ("en-GB", 3)],
               mail=[("gmail.com", 45), ("hotmail.co.uk", 10), ("outlook.com", 10),
                     ("yahoo.co.uk", 8), ("icloud.com", 10), ("btinternet.com", 4),
                     ("sky.com", 3)],
               phone=("44", ["74########", "75########", "77########", "78########",
                             "79########"]),
               names="en", cur="GBP", reward=10, weight=9),
    "DE": dict(tz=[("Europe/Berlin", 60, 100)],
               langs=[("de-DE,de", 80), ("de-DE,de,en-US,en", 12), ("de", 3),
                      ("en-US,en", 5)],
               mail=[("gmail.com", 30), ("gmx.de", 20), ("web.de", 20),
                     ("t-online.de", 8), ("outlook.de", 7), ("icloud.com", 5),
                     ("gmx.net", 5), ("posteo.de", 2)],
               phone=("49", ["151########", "152########", "157########", "160#######",
                             "170#######", "171#######", "176########", "179#######"]),
               names="de", cur="EUR", reward=10, weight=9),
    "FR": dict(tz=[("Europe/Paris", 60, 100)],
               langs=[("fr-FR,fr", 85), ("fr-FR,fr,en-US,en", 10), ("fr", 5)],
               mail=[("gmail.com", 45), ("orange.fr", 10), ("hotmail.fr", 10),
                     ("yahoo.fr", 7), ("free.fr", 6), ("laposte.net", 5),
                     ("outlook.fr", 5), ("sfr.fr", 3)],
               phone=("33", ["6########", "7########"]),
               names="fr", cur="EUR", reward=10, weight=7),
    "ES": dict(tz=[("Europe/Madrid", 60, 90), ("Atlantic/Canary", 0, 10)],
               langs=[("es-ES,es", 85), ("ca-ES,ca,es", 8), ("es-ES,es,en", 7)],
               mail=[("gmail.com", 60), ("hotmail.es", 15), ("yahoo.es", 7),
                     ("outlook.es", 8), ("icloud.com", 5)],
               phone=("34", ["6########", "7########"]),
               names="es", cur="EUR", reward=10, weight=5),
    "IT": dict(tz=[("Europe/Rome", 60, 100)],
               langs=[("it-IT,it", 90), ("it-IT,it,en-US,en", 10)],
               mail=[("gmail.com", 50), ("libero.it", 12), ("hotmail.it", 10),
                     ("yahoo.it", 7), ("virgilio.it", 5), ("outlook.it", 5),
                     ("icloud.com", 3)],
               phone=("39", ["32########", "33########", "34########", "35########",
                             "36########", "38########"]),
               names="it", cur="EUR", reward=10, weight=5),
    "NL": dict(tz=[("Europe/Amsterdam", 60, 100)],
               langs=[("nl-NL,nl", 80), ("nl-NL,nl,en-US,en", 10), ("en-US,en", 10)],
               mail=[("gmail.com", 45), ("hotmail.com", 15), ("outlook.com", 10),
                     ("ziggo.nl", 7), ("kpnmail.nl", 5), ("live.nl", 5),
                     ("icloud.com", 5)],
               phone=("31", ["6########"]),
               names="nl", cur="EUR", reward=10, weight=4),
    "PL": dict(tz=[("Europe/Warsaw", 60, 100)],
               langs=[("pl-PL,pl", 85), ("pl,en-US,en", 15)],
               mail=[("gmail.com", 45), ("wp.pl", 15), ("o2.pl", 10),
                     ("interia.pl", 10), ("onet.pl", 8)],
               phone=("48", ["5########", "6########", "7########", "88#######"]),
               names="pl", cur="PLN", reward=40, weight=4),
    "TR": dict(tz=[("Europe/Istanbul", 180, 100)],
               langs=[("tr-TR,tr", 85), ("tr-TR,tr,en-US,en", 10), ("en-US,en", 5)],
               mail=[("gmail.com", 65), ("hotmail.com", 20), ("outlook.com", 8),
                     ("yandex.com", 5)],
               phone=("90", ["5#########"]),
               names="tr", cur="TRY", reward=300, weight=4),
    "IN": dict(tz=[("Asia/Kolkata", 330, 90), ("Asia/Calcutta", 330, 10)],
               langs=[("en-IN,en", 45), ("en-US,en", 30), ("hi-IN,hi,en", 20),
                      ("en-GB,en", 5)],
               mail=[("gmail.com", 85), ("yahoo.co.in", 6), ("rediffmail.com", 4),
                     ("outlook.com", 5)],
               phone=("91", ["9#########", "8#########", "7#########", "6#########"]),
               names="in", cur="INR", reward=500, weight=7),
    "ID": dict(tz=[("Asia/Jakarta", 420, 75), ("Asia/Makassar", 480, 20),
                   ("Asia/Jayapura", 540, 5)],
               langs=[("id-ID,id", 75), ("id-ID,id,en-US,en", 10), ("en-US,en", 15)],
               mail=[("gmail.com", 85), ("yahoo.co.id", 10), ("yahoo.com", 5)],
               phone=("62", ["81#########", "82#########", "85#########", "87########"]),
               names="id", cur="IDR", reward=100000, weight=5),
    "PH": dict(tz=[("Asia/Manila", 480, 100)],
               langs=[("en-US,en", 50), ("en-PH,en", 35), ("fil-PH,fil,en", 15)],
               mail=[("gmail.com", 80), ("yahoo.com", 15), ("outlook.com", 5)],
               phone=("63", ["9#########"]),
               names="ph", cur="PHP", reward=500, weight=3),
    "NG": dict(tz=[("Africa/Lagos", 60, 100)],
               langs=[("en-US,en", 50), ("en-NG,en", 30), ("en-GB,en", 20)],
               mail=[("gmail.com", 80), ("yahoo.com", 15), ("outlook.com", 5)],
               phone=("234", ["70########", "80########", "81########", "90########"]),
               names="ng", cur="NGN", reward=5000, weight=3),
    "AU": dict(tz=[("Australia/Sydney", 600, 40), ("Australia/Melbourne", 600, 30),
                   ("Australia/Brisbane", 600, 15), ("Australia/Perth", 480, 10),
                   ("Australia/Adelaide", 570, 5)],
               langs=[("en-AU,en", 80), ("en-US,en", 15), ("en-GB,en", 5)],
               mail=[("gmail.com", 50), ("hotmail.com", 8), ("outlook.com", 7),
                     ("bigpond.com", 8), ("icloud.com", 10), ("yahoo.com.au", 5)],
               phone=("61", ["4########"]),
               names="en", cur="AUD", reward=15, weight=4),
    "JP": dict(tz=[("Asia/Tokyo", 540, 100)],
               langs=[("ja-JP,ja", 90), ("ja,en-US,en", 5), ("ja", 5)],
               mail=[("gmail.com", 45), ("yahoo.co.jp", 20), ("icloud.com", 15),
                     ("docomo.ne.jp", 8), ("ezweb.ne.jp", 5)],
               phone=("81", ["70########", "80########", "90########"]),
               names="jp", cur="JPY", reward=1500, weight=4),
}

NAMES = {
    "en": (["james", "mary", "john", "patricia", "robert", "jennifer", "michael", "linda",
            "david", "sarah", "chris", "jessica", "daniel", "emily", "matthew", "ashley",
            "anthony", "amanda", "mark", "megan", "paul", "laura", "kevin", "rachel",
            "brian", "hannah", "jason", "olivia", "ryan", "chloe", "tom", "grace",
            "adam", "sophie", "luke", "emma", "mike", "anna", "sam", "kate"],
           ["smith", "johnson", "williams", "brown", "jones", "miller", "davis", "wilson",
            "taylor", "anderson", "thomas", "moore", "martin", "jackson", "white",
            "harris", "clark", "lewis", "walker", "young", "allen", "king", "wright",
            "scott", "green", "baker", "adams", "hill", "campbell", "evans", "turner",
            "parker", "collins", "edwards", "stewart", "morris", "murphy", "cook"]),
    "es": (["jose", "maria", "juan", "guadalupe", "luis", "ana", "carlos", "laura",
            "miguel", "sofia", "javier", "lucia", "alejandro", "paula", "diego", "elena",
            "pablo", "carmen", "fernando", "isabel", "jorge", "marta", "ricardo", "andrea"],
           ["garcia", "rodriguez", "martinez", "hernandez", "lopez", "gonzalez", "perez",
            "sanchez", "ramirez", "torres", "flores", "rivera", "gomez", "diaz", "moreno",
            "jimenez", "ruiz", "alvarez", "romero", "navarro", "castro", "ortiz"]),
    "pt": (["joao", "maria", "pedro", "ana", "lucas", "juliana", "gabriel", "fernanda",
            "rafael", "beatriz", "mateus", "larissa", "thiago", "camila", "bruno",
            "leticia", "felipe", "amanda", "gustavo", "bianca"],
           ["silva", "santos", "oliveira", "souza", "lima", "pereira", "ferreira",
            "costa", "rodrigues", "almeida", "nascimento", "carvalho", "araujo",
            "ribeiro", "gomes", "martins", "barbosa", "rocha"]),
    "de": (["lukas", "anna", "leon", "lena", "jonas", "laura", "felix", "julia", "max",
            "sarah", "paul", "lisa", "tim", "katharina", "jan", "sophie", "niklas",
            "marie", "tobias", "hannah", "stefan", "sabine", "thomas", "petra", "markus",
            "claudia"],
           ["mueller", "schmidt", "schneider", "fischer", "weber", "meyer", "wagner",
            "becker", "schulz", "hoffmann", "koch", "richter", "klein", "wolf",
            "schroeder", "neumann", "schwarz", "zimmermann", "braun", "krueger",
            "hartmann", "lange", "werner", "krause"]),
    "fr": (["lucas", "emma", "hugo", "lea", "louis", "chloe", "gabriel", "manon",
            "arthur", "camille", "jules", "ines", "thomas", "sarah", "nicolas", "julie",
            "antoine", "marie", "maxime", "pauline", "julien", "claire"],
           ["martin", "bernard", "dubois", "thomas", "robert", "richard", "petit",
            "durand", "leroy", "moreau", "simon", "laurent", "lefebvre", "michel",
            "garcia", "david", "bertrand", "roux", "vincent", "fournier", "morel"]),
    "it": (["francesco", "giulia", "alessandro", "sofia", "lorenzo", "aurora", "matteo",
            "chiara", "andrea", "martina", "marco", "sara", "luca", "francesca",
            "giuseppe", "valentina", "davide", "elisa", "simone", "federica"],
           ["rossi", "russo", "ferrari", "esposito", "bianchi", "romano", "colombo",
            "ricci", "marino", "greco", "bruno", "gallo", "conti", "deluca", "mancini",
            "costa", "giordano", "rizzo", "lombardi", "moretti"]),
    "nl": (["daan", "emma", "sem", "julia", "lucas", "sophie", "levi", "tess", "finn",
            "anna", "milan", "sara", "jesse", "lisa", "thijs", "fleur", "ruben", "eva",
            "bram", "lotte"],
           ["devries", "jansen", "bakker", "visser", "smit", "meijer", "mulder",
            "deboer", "bos", "vos", "peters", "hendriks", "dekker", "dijkstra",
            "vanleeuwen", "vandijk", "kok", "jacobs", "vermeulen", "brouwer"]),
    "pl": (["jakub", "anna", "kacper", "maria", "szymon", "zuzanna", "jan", "julia",
            "filip", "katarzyna", "piotr", "agnieszka", "tomasz", "magdalena", "pawel",
            "monika", "michal", "aleksandra", "krzysztof", "natalia"],
           ["nowak", "kowalski", "wisniewski", "wojcik", "kowalczyk", "kaminski",
            "lewandowski", "zielinski", "szymanski", "wozniak", "dabrowski",
            "kozlowski", "jankowski", "mazur", "kwiatkowski", "krawczyk"]),
    "tr": (["mehmet", "ayse", "mustafa", "fatma", "ahmet", "emine", "ali", "hatice",
            "huseyin", "zeynep", "hasan", "elif", "ibrahim", "merve", "murat", "esra",
            "emre", "buse", "burak", "ebru"],
           ["yilmaz", "kaya", "demir", "sahin", "celik", "yildiz", "yildirim", "ozturk",
            "aydin", "ozdemir", "arslan", "dogan", "kilic", "aslan", "cetin", "kara",
            "koc", "kurt", "ozkan", "simsek"]),
    "in": (["aarav", "priya", "rahul", "ananya", "rohan", "pooja", "amit", "neha",
            "vikram", "sneha", "arjun", "kavya", "sanjay", "divya", "rajesh", "anjali",
            "karan", "riya", "suresh", "meera", "aditya", "shreya"],
           ["sharma", "verma", "gupta", "singh", "kumar", "patel", "reddy", "nair",
            "iyer", "mehta", "joshi", "shah", "rao", "das", "mishra", "agarwal",
            "pillai", "chopra", "malhotra", "bose"]),
    "id": (["budi", "siti", "agus", "dewi", "eko", "sri", "andi", "putri", "rizky",
            "ayu", "dimas", "indah", "fajar", "ratna", "yoga", "wulan", "bayu", "nur",
            "arif", "fitri"],
           ["santoso", "wijaya", "saputra", "pratama", "hidayat", "setiawan",
            "kurniawan", "susanto", "nugroho", "halim", "gunawan", "siregar",
            "lestari", "permana", "utomo", "rahman"]),
    "ph": (["juan", "maria", "jose", "angel", "mark", "kristine", "john", "jasmine",
            "paolo", "bea", "carlo", "nicole", "miguel", "joy", "rafael", "grace",
            "jerome", "camille"],
           ["santos", "reyes", "cruz", "bautista", "ocampo", "garcia", "mendoza",
            "torres", "tomas", "andrada", "castillo", "flores", "villanueva",
            "ramos", "dizon", "aquino"]),
    "ng": (["chinedu", "ngozi", "emeka", "amaka", "tunde", "funke", "ibrahim", "aisha",
            "segun", "bisi", "uche", "chioma", "femi", "yetunde", "musa", "zainab",
            "kelechi", "adaeze"],
           ["okafor", "adeyemi", "okeke", "ibrahim", "balogun", "eze", "nwosu",
            "adebayo", "ogunleye", "bello", "olawale", "chukwu", "abubakar",
            "onyeka", "afolabi", "danjuma"]),
    "jp": (["haruto", "yui", "sota", "hina", "yuto", "sakura", "riku", "aoi", "kenta",
            "yuki", "takumi", "mei", "daiki", "nanami", "shota", "misaki", "ren",
            "airi"],
           ["sato", "suzuki", "takahashi", "tanaka", "watanabe", "ito", "yamamoto",
            "nakamura", "kobayashi", "kato", "yoshida", "yamada", "sasaki",
            "yamaguchi", "matsumoto", "inoue", "kimura", "hayashi"]),
}

GMAIL = ("gmail.com", "googlemail.com")


def mailbox_key(email):
    """The mailbox an address delivers to, folded as refguard folds it
    (docs/identity.md): lower case, +tag dropped, Gmail dots dropped."""
    local, _, dom = email.lower().rpartition("@")
    local = local.split("+", 1)[0]
    if dom in GMAIL:
        dom = "gmail.com"
        local = local.replace(".", "")
    return local + "@" + dom


# ---- devices -------------------------------------------------------------

# Chromium and Firefox ship a major version every four weeks; a device
# takes a new version some days after its release.
BROWSER_CYCLE = 28 * DAY

APP_NAME = "Refer"
# The app sends little: its version, the phone's model and OS version,
# zone, language and screen. The model decides the screen and memory, and
# a few models are much of the market (the weights: rough shares), so two
# people's phones of one model on one app version in one country send
# the same print; only the install id tells them apart (docs/eval.md).
ANDROID_MODELS = [("SM-A155F", "1080x2340", "8/4", 10), ("SM-A546B", "1080x2340", "8/6", 9),
                  ("SM-S921B", "1080x2340", "8/8", 7), ("SM-S928B", "1440x3120", "8/12", 4),
                  ("SM-G991B", "1080x2400", "8/8", 4), ("SM-A356E", "1080x2340", "8/6", 5),
                  ("Pixel 8", "1080x2400", "8/8", 4), ("Pixel 7a", "1080x2400", "8/8", 3),
                  ("Pixel 9", "1080x2424", "8/12", 3), ("23108RN04Y", "1080x2460", "8/8", 4),
                  ("2201117TG", "1080x2400", "8/6", 3), ("CPH2591", "1080x2412", "8/8", 2),
                  ("moto g54 5G", "1080x2400", "8/8", 2), ("V2250", "1080x2400", "8/8", 2),
                  ("RMX3710", "1080x2400", "8/8", 2), ("M2101K6G", "1080x2400", "8/6", 2),
                  ("SM-A057F", "1080x2408", "8/4", 5), ("TECNO KI5q", "720x1612", "8/4", 2),
                  ("Infinix X6525", "720x1612", "8/4", 2)]
IOS_MODELS = [("iPhone14,7", "1170x2532", "6/6", 8), ("iPhone15,2", "1179x2556", "6/6", 6),
              ("iPhone15,4", "1179x2556", "6/6", 9), ("iPhone16,1", "1179x2556", "6/8", 7),
              ("iPhone16,2", "1290x2796", "6/8", 6), ("iPhone17,3", "1179x2556", "6/8", 8),
              ("iPhone13,2", "1170x2532", "6/4", 5), ("iPhone14,5", "1170x2532", "6/4", 6),
              ("iPhone12,1", "828x1792", "6/4", 4)]

# Synthetic-but-plausible hardware for the user-agent pool (variant A).
SYNTH_GPU = {
    "windows": ["Google Inc. (Intel)|ANGLE (Intel, Intel(R) UHD Graphics 620 Direct3D11 vs_5_0 ps_5_0, D3D11)",
                "Google Inc. (Intel)|ANGLE (Intel, Intel(R) Iris(R) Xe Graphics Direct3D11 vs_5_0 ps_5_0, D3D11)",
                "Google Inc. (NVIDIA)|ANGLE (NVIDIA, NVIDIA GeForce RTX 3060 Direct3D11 vs_5_0 ps_5_0, D3D11)",
                "Google Inc. (NVIDIA)|ANGLE (NVIDIA, NVIDIA GeForce GTX 1650 Direct3D11 vs_5_0 ps_5_0, D3D11)",
                "Google Inc. (AMD)|ANGLE (AMD, AMD Radeon(TM) Graphics Direct3D11 vs_5_0 ps_5_0, D3D11)"],
    "macos": ["Google Inc. (Apple)|ANGLE (Apple, ANGLE Metal Renderer: Apple M1, Unspecified Version)",
              "Google Inc. (Apple)|ANGLE (Apple, ANGLE Metal Renderer: Apple M2, Unspecified Version)",
              "Apple Inc.|Apple GPU",
              "Google Inc. (Intel Inc.)|ANGLE (Intel Inc., Intel(R) Iris(TM) Plus Graphics 645, OpenGL 4.1)"],
    "linux": ["Google Inc. (Intel)|ANGLE (Intel, Mesa Intel(R) UHD Graphics 620 (KBL GT2), OpenGL 4.6)",
              "Google Inc. (AMD)|ANGLE (AMD, AMD Radeon Graphics (radeonsi, renoir, LLVM 15.0.7), OpenGL 4.6)"],
    "android": ["Qualcomm|Adreno (TM) 610", "Qualcomm|Adreno (TM) 660", "Qualcomm|Adreno (TM) 740",
                "ARM|Mali-G57 MC2", "ARM|Mali-G68 MC4", "ARM|Mali-G710 MC10", "Imagination Technologies|PowerVR Rogue GE8320"],
    "ios": ["Apple Inc.|Apple GPU"],
    "chromeos": ["Google Inc. (Intel)|ANGLE (Intel, Mesa Intel(R) UHD Graphics 600 (GLK 2), OpenGL ES 3.2)"],
}
SYNTH_HW = {"windows": ["4/8", "8/8", "12/8", "16/8", "8/4", "4/4"],
            "macos": ["8/8", "10/8", "8/16", "12/16"],
            "linux": ["4/8", "8/8", "16/8"],
            "android": ["8/4", "8/8", "8/2", "4/4"],
            "ios": ["4", "6"],
            "chromeos": ["4/4", "8/8"]}
SYNTH_FONTS = {"windows": "Arial,Calibri,Cambria,Candara,Consolas,Constantia,Corbel,Courier New,Georgia,Segoe UI,Tahoma,Times New Roman,Trebuchet MS,Verdana",
               "macos": "American Typewriter,Arial,Avenir,Avenir Next,Courier,Futura,Geneva,Georgia,Helvetica Neue,Menlo,Monaco,Palatino,Times",
               "linux": "DejaVu Sans,DejaVu Serif,Liberation Mono,Liberation Sans,Noto Sans,Ubuntu",
               "android": "sans-serif-thin,sans-serif-condensed",
               "ios": "Gill Sans,Helvetica Neue,Menlo",
               "chromeos": "Arimo,Cousine,Noto Sans,Roboto,Tinos"}


def ua_os(ua):
    u = ua.lower()
    if "iphone" in u or "ipad" in u or "cpu os" in u:
        return "ios"
    if "android" in u:
        return "android"
    if "windows" in u:
        return "windows"
    if "cros" in u:
        return "chromeos"
    if "mac os x" in u or "macintosh" in u:
        return "macos"
    return "linux"


_VER = re.compile(r"(Chrome|CriOS|Edg|EdgA|Firefox|FxiOS|OPR|SamsungBrowser)/(\d+)")
_RV = re.compile(r"rv:(\d+)\.0")


def bump_ua(ua, n):
    """The user agent n major versions later (or earlier: n < 0), for
    Chromium and Firefox; other browsers keep theirs."""
    if n == 0:
        return ua

    def sub(m):
        return "%s/%d" % (m.group(1), int(m.group(2)) + n)
    ua = _VER.sub(sub, ua)
    return _RV.sub(lambda m: "rv:%d.0" % (int(m.group(1)) + n), ua)


def browser_family(ua):
    m = _VER.search(ua)
    if m:
        return m.group(1)
    return "Safari" if "Safari/" in ua else "other"


class DevicePool:
    """Device models from the frozen pool, weighted by how often the
    source drew them. 'real' (fingerprint-generator) carries complete
    fingerprints; 'synth' (user-agents) has real agents and screens, the
    rest drawn from small plausible tables."""

    def __init__(self, pool):
        self.fonts = pool["fonts"]
        self.real = {}
        for d in pool["devices_real"]:
            ua, plat, screen, hw, webgl, fonts, dev, osname, n = d
            cat = "phone" if dev == "mobile" else "desktop"
            self.real.setdefault(cat, []).append((dict(
                ua=ua, platform=plat, screen=screen, hw=hw, webgl=webgl,
                fonts=self.fonts[fonts], os=osname), n))
        self.synth = {}
        for d in pool["devices_synth"]:
            ua, plat, screen, cat, n = d
            cat = {"mobile": "phone", "tablet": "tablet"}.get(cat, "desktop")
            self.synth.setdefault(cat, []).append((dict(
                ua=ua, platform=plat, screen=screen, os=ua_os(ua)), n))

    def model(self, rng, cat, real):
        """A device model (a dict of attributes, no tz/lang) of category
        phone, desktop or tablet."""
        src = self.real if real else self.synth
        if cat == "tablet" and real:
            # fingerprint-generator has no tablets: an iPad or Android tablet
            # built from a phone of the same OS.
            base = dict(pick(rng, src["phone"]))
            if base["os"] == "ios":
                base["ua"] = base["ua"].replace("iPhone; CPU iPhone OS", "iPad; CPU OS")
                base["platform"] = "iPad"
                base["screen"] = pick(rng, [("810x1080", 3), ("820x1180", 4), ("1024x1366", 2)])
            else:
                base["ua"] = base["ua"].replace(" Mobile Safari", " Safari")
                base["screen"] = pick(rng, [("800x1280", 4), ("1200x1920", 2), ("1280x800", 2)])
            return base
        lst = src.get(cat) or src["phone"]
        m = dict(pick(rng, lst))
        if not real:
            osn = m["os"]
            m["webgl"] = rng.choice(SYNTH_GPU.get(osn, SYNTH_GPU["linux"]))
            m["hw"] = rng.choice(SYNTH_HW.get(osn, SYNTH_HW["linux"]))
            m["fonts"] = SYNTH_FONTS.get(osn, SYNTH_FONTS["linux"])
        return m


class Device:
    """One physical device as one client sees it: a browser (web) or the
    service's app (app, which sends an install id). Fingerprint fields
    follow docs/protocol.md; tz and lang follow the owner's settings."""

    def __init__(self, world, model, kind, tz, lang, born=0):
        rng = world.rng
        self.world = world
        self.kind = kind            # web or app
        self.model = model
        self.tz = tz
        self.lang = lang
        self.os = model["os"]
        self.install = 0            # app reinstalls (a new install id)
        self.install_id = self._new_id()
        self.ua_base = model["ua"]
        # The version update lag of this device, and the number of
        # releases it had taken before the simulation.
        self.lag = int(between(rng, 0.5, 12) * DAY)
        self.born = born
        self.extra_bumps = 0        # browser updates a fraudster forced
        self.noise = None           # per-session canvas noise (privacy browsers)
        if kind == "web" and chance(rng, world.p_privacy_browser):
            self.noise = "session"
        self.canvas_salt = None     # anti-detect profile noise
        # (model, screen, cores/memory) of the app's phone
        self.app_model = pick(rng, [(m[:3], m[3]) for m in
                                    (IOS_MODELS if self.os == "ios" else ANDROID_MODELS)])
        self.app_ver = world.app_release_index(0)

    def _new_id(self):
        rng = self.world.rng
        return "%s-%s-%s-%s-%s" % (hexid(rng, 8), hexid(rng, 4), hexid(rng, 4),
                                   hexid(rng, 4), hexid(rng, 12))

    def reinstall(self):
        self.install += 1
        self.install_id = self._new_id()

    def canvas(self, session=None):
        m = self.model
        base = digest(m.get("webgl", ""), self.os, browser_family(self.ua_base),
                      m.get("fonts", ""), m.get("screen", ""))
        if self.canvas_salt:
            base = digest(base, self.canvas_salt)
        if self.noise == "session" and session is not None:
            base = digest(base, session)
        return base

    def ua_at(self, t):
        if self.kind == "app":
            ver = self.world.app_release_index(t - self.lag)
            osv = ("iOS 18.%d" % (ver % 6)) if self.os == "ios" else \
                ("Android %d" % (13 + ver % 3))
            return "%s/%s (%s; %s)" % (APP_NAME, self.world.app_version(ver),
                                       self.app_model[0], osv)
        n = self.world.browser_releases(t - self.lag) + self.extra_bumps
        return bump_ua(self.ua_base, n)

    def fields(self, t, session=None):
        """The device object of a request at time t."""
        m = self.model
        d = {}
        if self.kind == "app":
            d["id"] = self.install_id
            d["ua"] = self.ua_at(t)
            d["tz"] = self.tz
            d["lang"] = self.lang
            d["screen"] = self.app_model[1]
            d["platform"] = "iOS" if self.os == "ios" else "Android"
            d["hw"] = self.app_model[2]
            return d
        d["ua"] = self.ua_at(t)
        d["tz"] = self.tz
        d["lang"] = self.lang
        d["screen"] = m["screen"]
        d["platform"] = m["platform"]
        if m.get("hw"):
            d["hw"] = m["hw"]
        if m.get("webgl"):
            d["webgl"] = m["webgl"]
        if m.get("fonts") and self.world.collect_fonts:
            d["fonts"] = m["fonts"]
        if self.world.collect_canvas:
            d["canvas"] = self.canvas(session)
        return d


# ---- people -------------------------------------------------------------------

class Person:
    """A customer (or a fraudster's persona): an account, the identities it
    shows (email, phone, cards) and where it comes from (devices and
    networks)."""

    def __init__(self, world, cc):
        self.world = world
        self.cc = cc
        self.account = world.new_account()
        c = COUNTRIES[cc]
        rng = world.rng
        tz, off = pick(rng, [((z, o), w) for z, o, w in c["tz"]])
        self.tz, self.tzoff = tz, off
        self.lang = pick(rng, c["langs"])
        first, last = NAMES[c["names"]]
        self.first, self.last = rng.choice(first), rng.choice(last)
        self.email = world.new_email(self)
        self.phone = world.new_phone(cc) if chance(rng, 0.9) else None
        self.cards = [world.new_card()]
        if chance(rng, 0.25):
            self.cards.append(world.new_card())
        self.devices = []
        self.home = None
        self.carrier = world.carrier(cc)
        self.office = None
        self.campus = None
        self.vpn_cc = None
        self.signup = None
        self.sessions = []          # (t, n, ip, device fields), by time
        self.phone_dev = None
        self.fixed_net = None       # a fraudster's proxy: every session

    # -- devices
    def add_phone(self, app=None, model=None):
        w = self.world
        if app is None:
            app = chance(w.rng, w.p["p_app"])
        model = model or w.devices.model(w.rng, "phone", w.p["real_devices"])
        d = Device(w, model, "app" if app else "web", self.tz, self.lang)
        self.devices.append(d)
        self.phone_dev = self.phone_dev or d
        return d

    def add_computer(self, cat="desktop", model=None):
        w = self.world
        model = model or w.devices.model(w.rng, cat, w.p["real_devices"])
        d = Device(w, model, "web", self.tz, self.lang)
        self.devices.append(d)
        return d

    def equip(self):
        """The usual set: a phone, often a computer, sometimes a tablet,
        home broadband unless mobile-only."""
        w = self.world
        rng = w.rng
        self.add_phone()
        if chance(rng, w.p["p_laptop"]):
            self.add_computer()
        if chance(rng, w.p["p_tablet"]):
            self.add_computer("tablet")
        only = w.p["p_mobile_only"] * (2.0 if self.cc in ("IN", "ID", "NG", "PH") else 1.0)
        if not chance(rng, only):
            self.home = HomeNet(w, self.cc)
        if chance(rng, w.p["p_vpn_user"]):
            self.vpn_cc = w.vpn.exit_country(rng, self.cc)
        return self

    # -- where a session comes from
    def net_for(self, t, dev):
        w = self.world
        rng = w.rng
        if self.fixed_net is not None:
            return self.fixed_net
        if self.vpn_cc and chance(rng, 0.7):
            return ("vpn", self.vpn_cc)
        local_hour = ((t // HOUR) + self.tzoff // 60) % 24
        weekday = ((t + self.tzoff * MINUTE) // DAY + 3) % 7 < 5
        work = weekday and 9 <= local_hour < 18
        if self.campus and chance(rng, 0.65 if work or local_hour >= 18 else 0.3):
            return self.campus
        if self.office and work and chance(rng, 0.8 if dev.kind == "web" and
                                           dev.model.get("os") not in ("ios", "android") else 0.5):
            return self.office
        phone = dev.os in ("ios", "android") and \
            not dev.model.get("platform", "").startswith("iPad")
        if self.home is None:
            return self.carrier
        if phone and chance(rng, 0.45 if not work else 0.7):
            return self.carrier
        if chance(rng, 0.02):
            return w.public_wifi(self.cc)
        return self.home

    def session(self, t, dev=None, net=None):
        """(ip, device fields) of a session of this person at time t."""
        w = self.world
        dev = dev or self.pick_device()
        net = net or self.net_for(t, dev)
        if isinstance(net, tuple):
            ip = w.vpn.addr(w.rng, t, dev, net[1])
        else:
            ip = net.addr(w.rng, t, dev)
        n = w.next_session()
        s = (ip, dev.fields(t, session=n))
        bisect.insort(self.sessions, (t, n, s))
        return s

    def session_before(self, t):
        """The latest session at or before t (what the backend knows of
        this user at that moment), or None."""
        i = bisect.bisect_right(self.sessions, (t, float("inf")))
        return self.sessions[i - 1][2] if i else None

    def pick_device(self):
        rng = self.world.rng
        if len(self.devices) == 1 or chance(rng, 0.6):
            return self.phone_dev or self.devices[0]
        return rng.choice(self.devices)

    def party(self, t, dev=None, net=None, signup=False, email=None, phone=None,
              payment=None, session=None):
        """A party object for a check, as the backend would send it."""
        w = self.world
        p = put({"account": self.account}, email=email or self.email)
        ip, devf = session or self.session(t, dev, net)
        put(p, ip=ip, device=devf)
        # An explicit phone or payment is sent; otherwise the person's own
        # at signup, as often as this service asks for them then.
        if not phone and signup and self.phone and chance(w.rng, w.p["p_phone_signup"]):
            phone = self.phone
        if not payment and signup and self.cards and chance(w.rng, w.p["p_payment_signup"]):
            payment = self.cards[0]
        return put(p, phone=phone, payment=payment)


# ---- networks ------------------------------------------------------------

def _net(cidr):
    return ipaddress.ip_network(cidr, strict=False)


def rand_in(rng, net, prefixlen=None):
    """A random address inside net (or a random subnet of prefixlen)."""
    host_bits = net.max_prefixlen - net.prefixlen
    if prefixlen is not None:
        sub_bits = prefixlen - net.prefixlen
        k = rng.getrandbits(sub_bits) if sub_bits > 0 else 0
        base = int(net.network_address) + (k << (net.max_prefixlen - prefixlen))
        return ipaddress.ip_network((base, prefixlen))
    off = rng.getrandbits(host_bits) if host_bits > 0 else 0
    if net.version == 4:
        # avoid .0 and .255 in the last octet: real hosts rarely use them
        off = (off & ~0xff) | rng.randrange(2, 254) if host_bits >= 8 else off
    return ipaddress.ip_address(int(net.network_address) + off)


def v6_host(rng, prefix64):
    """A privacy-extension style address in a /64."""
    return str(ipaddress.ip_address(int(prefix64.network_address) |
                                    rng.getrandbits(64)))


class Ranges:
    """The frozen address ranges: category -> country -> AS -> blocks."""

    def __init__(self, pool):
        self.asns = {int(k): v for k, v in pool["asns"].items()}
        self.ranges = pool["ranges"]
        self._cache = {}

    def networks(self, cat, cc):
        """[(asn, [v4 nets], [v6 nets])] of a category in a country, the
        networks with IPv4 blocks only (every client has IPv4)."""
        key = (cat, cc)
        out = self._cache.get(key)
        if out is None:
            out = []
            for asn, ent in self.ranges.get(cat, {}).get(cc, {}).items():
                if ent.get("4"):
                    out.append((int(asn), [_net(c) for c in ent["4"]],
                                [_net(c) for c in ent.get("6", [])]))
            self._cache[key] = out
        return out

    def countries(self, cat):
        return list(self.ranges.get(cat, {}).keys())


class Net:
    """A place on the Internet a session comes from. addr(rng, t, dev)
    gives the client address of a session at time t."""
    kind = "net"
    v6 = False

    def addr(self, rng, t, dev):
        raise NotImplementedError


class HomeNet(Net):
    """A household's broadband line: one IPv4 address that changes every
    few days to weeks (dynamic addressing), and with IPv6 a delegated
    prefix whose /64 every device shares, each with its own temporary
    address that changes daily (privacy extensions)."""
    kind = "home"

    def __init__(self, world, cc):
        rng = world.rng
        isps = world.ranges.networks("residential", cc)
        self.asn, v4, v6 = isps[rng.randrange(len(isps))]
        self.block4 = rng.choice(v4)
        self.cc = cc
        # days between address changes (some ISPs reconnect daily)
        self.churn = pick(rng, [(1, 1), (7, 2), (21, 3), (90, 4)]) * DAY
        self.phase = rng.randrange(self.churn)
        self.v6 = bool(v6) and chance(rng, world.p["p_v6_home"])
        self.prefix = rand_in(rng, rng.choice(v6), 56) if self.v6 else None
        self.seed = rng.getrandbits(32)
        self._v4 = {}

    def v4_at(self, t):
        epoch = (t + self.phase) // self.churn
        a = self._v4.get(epoch)
        if a is None:
            r = _subrng(self.seed, epoch)
            a = str(rand_in(r, self.block4))
            self._v4[epoch] = a
        return a

    def addr(self, rng, t, dev):
        if self.v6 and dev is not None:
            p64 = ipaddress.ip_network((int(self.prefix.network_address), 64))
            r = _subrng(self.seed, id_key(dev), t // DAY)
            return v6_host(r, p64)
        return self.v4_at(t)


def id_key(dev):
    return dev.install_id if dev is not None else "-"


def _subrng(*parts):
    """A private generator for a draw that must not disturb the world's
    stream (an address as a function of who and when)."""
    return random.Random(int(digest(*parts, n=15), 16))


class CarrierNet(Net):
    """A mobile carrier in one region: IPv4 through carrier-grade NAT, a
    small pool of public addresses that every subscriber in the region
    shares and that changes between sessions; IPv6 (when the carrier has
    it) a /64 per attachment that changes every day or two."""
    kind = "mobile"

    def __init__(self, world, cc, asn, v4, v6, pool_size):
        rng = world.rng
        self.cc = cc
        self.asn = asn
        blocks = []
        for _ in range(max(1, pool_size // 64)):
            blk = rng.choice(v4)
            blocks.append(rand_in(rng, blk, max(24, blk.prefixlen)))
        self.pool = []
        for i in range(pool_size):
            blk = blocks[i % len(blocks)]
            self.pool.append(str(rand_in(rng, blk)))
        self.v6nets = v6
        self.v6 = bool(v6) and chance(rng, world.p["p_v6_mobile"])
        self.seed = rng.getrandbits(32)

    def addr(self, rng, t, dev):
        if self.v6 and dev is not None:
            r = _subrng(self.seed, id_key(dev), t // (36 * HOUR))
            p64 = rand_in(r, r.choice(self.v6nets), 64)
            return v6_host(rng, p64)
        return rng.choice(self.pool)

    def sticky(self, rng):
        return rng.choice(self.pool)


class SharedNet(Net):
    """Many people behind a few public IPv4 addresses (an office, a
    campus, a café), optionally with IPv6 subnets whose hosts all have
    their own addresses."""

    def __init__(self, world, kind, cc, cat, n4, n64, p_v6):
        rng = world.rng
        self.kind = kind
        self.cc = cc
        nets = world.ranges.networks(cat, cc) or world.ranges.networks("residential", cc)
        self.asn, v4, v6 = nets[rng.randrange(len(nets))]
        blk = rand_in(rng, rng.choice(v4), 24)
        first = rng.randrange(2, 250 - n4)
        self.egress = [str(ipaddress.ip_address(int(blk.network_address) + first + i))
                       for i in range(n4)]
        self.v6 = bool(v6) and chance(rng, p_v6)
        self.subnets = []
        if self.v6:
            site = rand_in(rng, rng.choice(v6), 48)
            self.subnets = [rand_in(rng, site, 64) for _ in range(n64)]
        self.seed = rng.getrandbits(32)

    def addr(self, rng, t, dev):
        if self.v6 and dev is not None:
            r = _subrng(self.seed, id_key(dev))
            return v6_host(rng, r.choice(self.subnets))
        return rng.choice(self.egress)


class VpnService(Net):
    """A commercial VPN: exit servers in data centres, per country; a
    user connects to a random exit of the country they chose."""
    kind = "vpn"

    def __init__(self, world):
        rng = world.rng
        self.exits = {}
        for cc in world.ranges.countries("vpn"):
            nets = world.ranges.networks("vpn", cc)
            asn, v4, _ = nets[rng.randrange(len(nets))]
            if not v4:
                continue
            blk = rand_in(rng, rng.choice(v4), 24)
            self.exits[cc] = [str(rand_in(rng, blk)) for _ in range(rng.randrange(3, 12))]
        self.countries = list(self.exits.keys())

    def exit_country(self, rng, home):
        if home in self.exits and chance(rng, 0.6):
            return home
        return pick(rng, [(c, 5 if c in ("US", "NL", "DE", "GB", "CH", "SE") else 1)
                          for c in self.countries])

    def addr(self, rng, t, dev, cc=None):
        return rng.choice(self.exits[cc or self.countries[0]])


class ProxyPool(Net):
    """Addresses a fraudster rents: residential proxies (a fresh home or
    mobile address each time, in the countries asked for), data-centre
    proxies (addresses inside a few hosting /24s, or random addresses of
    one IPv6 /64 or /48), or a few mobile-data SIMs (carrier NAT pools)."""

    def __init__(self, world, kind, countries, v6_share=0.0):
        rng = world.rng
        self.kind = kind
        self.world = world
        self.countries = countries
        self.v6_share = v6_share
        if kind == "datacenter":
            cc = countries[0]
            nets = world.ranges.networks("hosting", cc) or \
                world.ranges.networks("hosting", "US")
            self.asn, v4, v6 = nets[rng.randrange(len(nets))]
            self.blocks = [rand_in(rng, rng.choice(v4), 24)
                           for _ in range(rng.randrange(1, 4))]
            self.v6block = None
            if v6 and chance(rng, v6_share):
                self.v6block = rand_in(rng, rng.choice(v6), pick(rng, [(64, 2), (48, 1)]))

    def addr(self, rng, t, dev):
        if self.kind == "datacenter":
            if self.v6block is not None:
                if self.v6block.prefixlen == 64:
                    return v6_host(rng, self.v6block)
                return v6_host(rng, rand_in(rng, self.v6block, 64))
            return str(rand_in(rng, rng.choice(self.blocks)))
        # residential: any home or mobile line of the country
        cc = rng.choice(self.countries)
        cat = pick(rng, [("residential", 75), ("mobile", 25)])
        nets = self.world.ranges.networks(cat, cc) or \
            self.world.ranges.networks("residential", cc)
        asn, v4, v6 = nets[rng.randrange(len(nets))]
        if v6 and chance(rng, self.v6_share):
            return v6_host(rng, rand_in(rng, rng.choice(v6), 64))
        return str(rand_in(rng, rng.choice(v4)))
