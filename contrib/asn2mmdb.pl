#!/usr/bin/perl
# asn2mmdb.pl: build an ASN MaxMind DB from ip-location-db CSV files.
#
#   asn2mmdb.pl [-m MIN_ROWS] [-e EPOCH] [-d DESCRIPTION] [-c IP=ASN]...
#               OUT.mmdb IN.csv...
#
# Each IN.csv line is "start,end,asn,organisation" (an inclusive range of
# IPv4 or IPv6 addresses; the organisation may be quoted, with "" for a
# quote), as in the npm package @ip-location-db/asn. OUT.mmdb gets the
# GeoLite2-ASN record layout (autonomous_system_number,
# autonomous_system_organization), so refguardd reads it as an ASN
# database (geo.asn, geo.as_org).
#
# Refuses, writing nothing, with "asn2mmdb.pl: FILE:LINE: reason" and
# exit 1: a malformed line, a file that does not end with a newline
# (truncated), a file with fewer than MIN_ROWS rows (default 1), a
# database that does not answer -c IP=ASN or the ranges sampled from the
# input. Otherwise writes OUT.mmdb.tmp.PID, checks it by opening it and
# looking addresses up, and renames it to OUT.mmdb: a reader never sees a
# half-written file. -e sets the metadata build_epoch (the data's date;
# default now). Quiet on success.
#
# Uses Debian's libmaxmind-db-writer-perl (which brings the reader too).
# Memory and time for the full package (515,000 ranges): about 200 MB
# and 15 s on one core.
use strict;
use warnings;

use Encode ();
use Socket qw(AF_INET AF_INET6 inet_pton);

my $me = 'asn2mmdb.pl';

sub fail {
	print STDERR "$me: @_\n";
	exit 1;
}

sub usage {
	print STDERR "usage: $me [-m MIN_ROWS] [-e EPOCH] [-d DESCRIPTION] "
	    . "[-c IP=ASN]... OUT.mmdb IN.csv...\n";
	exit 2;
}

my ($min, $epoch, $desc, @checks) = (1);
while (@ARGV && $ARGV[0] =~ /^-([medc])$/) {
	my $o = $1;
	shift;
	usage() if !@ARGV;
	my $v = shift;
	if ($o eq 'm') { $min = $v }
	elsif ($o eq 'e') { $epoch = $v }
	elsif ($o eq 'd') { $desc = $v }
	else {
		usage() if $v !~ /^([^=]+)=(\d+)$/;
		push @checks, [ $1, $2 + 0 ];
	}
}
usage() if @ARGV < 2 || $min !~ /^\d+$/ ||
    (defined $epoch && $epoch !~ /^\d+$/);
my ($out, @in) = @ARGV;

if (!eval { require MaxMind::DB::Writer::Tree; require MaxMind::DB::Reader;
    1 }) {
	fail('MaxMind::DB::Writer::Tree is not installed (Debian: '
	    . 'libmaxmind-db-writer-perl)');
}

my %types = (
	autonomous_system_number	=> 'uint32',
	autonomous_system_organization	=> 'utf8_string',
);
my $tree = MaxMind::DB::Writer::Tree->new(
	ip_version		=> 6,
	record_size		=> 28,
	database_type		=> 'ip-location-db-ASN',
	languages		=> ['en'],
	description		=> { en => $desc // 'AS numbers and '
	    . 'organisations from ip-location-db CSV files' },
	map_key_type_callback	=> sub { $types{ $_[0] } },
	alias_ipv6_to_ipv4	=> 1,
	# What the CSV says, also in reserved space: refguardd never looks
	# private addresses up, and every sampled row must be found.
	remove_reserved_networks => 0,
);
# The writer has no public setter; its own tests use this one.
$tree->_set_build_epoch($epoch) if defined $epoch &&
    $tree->can('_set_build_epoch');

# IPv6 networks the tree aliases to IPv4 (IPv4-mapped, Teredo, 6to4):
# nothing can be inserted there.
my @aliased = map {
	my ($first, $last) = @$_;
	[ inet_pton(AF_INET6, $first), inet_pton(AF_INET6, $last) ]
} (['::ffff:0:0', '::ffff:ffff:ffff'],
    ['2001::', '2001:0:ffff:ffff:ffff:ffff:ffff:ffff'],
    ['2002::', '2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff']);

my %data;		# one record per (asn, organisation)
my @samples;		# [ start, asn, where ] of rows to look up afterwards
my $skipped = 0;

sub parse_addr {
	my ($s) = @_;
	my $p;

	return (AF_INET, $p) if $s =~ /^[0-9.]+$/ &&
	    defined($p = inet_pton(AF_INET, $s));
	return (AF_INET6, $p) if $s =~ /:/ &&
	    defined($p = inet_pton(AF_INET6, $s));
	return;
}

sub read_csv {
	my ($file) = @_;
	my ($fh, $line, $rows, $last_nl);
	my (%prev_end, %prev_row);	# by family: overlap tracking
	my @rows_here;

	open($fh, '<:raw', $file) or fail("$file: $!");
	$rows = 0;
	while (defined($line = <$fh>)) {
		my $where = "$file:$.";
		$last_nl = $line =~ s/\r?\n\z//;
		fail("$where: line does not end with a newline: the file is "
		    . "truncated") if !$last_nl;
		next if $line eq '';
		my ($s, $e, $asn, $org);
		if ($line =~ /^([^,"]+),([^,"]+),(\d{1,10}),"((?:[^"]|"")*)"$/) {
			($s, $e, $asn, $org) = ($1, $2, $3, $4);
			$org =~ s/""/"/g;
		} elsif ($line =~ /^([^,"]+),([^,"]+),(\d{1,10}),([^",]*)$/) {
			($s, $e, $asn, $org) = ($1, $2, $3, $4);
		} else {
			fail("$where: not \"start,end,asn,organisation\"");
		}
		fail("$where: AS number $asn out of range")
		    if $asn == 0 || $asn > 4294967295;
		my ($sf, $sp) = parse_addr($s);
		my ($ef, $ep) = parse_addr($e);
		fail("$where: $s is not an IPv4 or IPv6 address") if !$sf;
		fail("$where: $e is not an IPv4 or IPv6 address") if !$ef;
		fail("$where: $s and $e are not of one address family")
		    if $sf != $ef;
		fail("$where: range ends before it starts ($s > $e)")
		    if $sp gt $ep;
		$org = eval { Encode::decode('UTF-8', $org, Encode::FB_CROAK) };
		fail("$where: organisation is not valid UTF-8") if !defined $org;
		$rows++;
		if ($sf == AF_INET6 && grep { $sp ge $_->[0] && $sp le $_->[1] ||
		    $ep ge $_->[0] && $ep le $_->[1] } @aliased) {
			fail("$where: $s-$e crosses an aliased network "
			    . "(IPv4-mapped, Teredo or 6to4)")
			    if !grep { $sp ge $_->[0] && $ep le $_->[1] } @aliased;
			$skipped++;
			next;
		}
		my $d = $data{"$asn\0$org"} //= {
			autonomous_system_number => $asn + 0,
			$org ne '' ? (autonomous_system_organization => $org) : (),
		};
		fail("$where: $@") if !eval { $tree->insert_range($s, $e, $d); 1 };
		# A row overlapping its predecessor overwrites its tail: do
		# not sample the predecessor.
		if (defined $prev_end{$sf} && $sp le $prev_end{$sf}) {
			$prev_row{$sf}->[3] = 1;
		}
		my $row = [ $s, $asn + 0, $where, 0 ];
		push @rows_here, $row;
		$prev_end{$sf} = $ep;
		$prev_row{$sf} = $row;
	}
	close($fh);
	fail("$file: $rows rows, fewer than $min: the file is truncated or "
	    . "empty") if $rows < $min;
	# The first, the last and about 1000 more rows in between.
	my $step = int(@rows_here / 1000) || 1;
	for (my $i = 0; $i < @rows_here; $i += $step) {
		push @samples, $rows_here[$i] if !$rows_here[$i][3];
	}
	push @samples, $rows_here[-1] if @rows_here && !$rows_here[-1][3];
}

read_csv($_) for @in;

# Write beside OUT, check, then rename over OUT.
my $tmp = "$out.tmp.$$";
END { unlink($tmp) if defined $tmp && -e $tmp; }
{
	open(my $fh, '>:raw', $tmp) or fail("$tmp: $!");
	$tree->write_tree($fh);
	close($fh) or fail("$tmp: $!");
}
undef $tree;

my $r = eval { MaxMind::DB::Reader->new(file => $tmp) };
fail("the database written cannot be opened: $@") if !$r;
fail('the database written has no search tree')
    if $r->metadata->node_count == 0;

sub lookup_asn {
	my ($ip) = @_;
	my $rec = eval { $r->record_for_address($ip) };
	fail("looking $ip up in the database written: $@") if $@;
	return $rec ? $rec->{autonomous_system_number} : undef;
}

for my $c (@checks) {
	my $got = lookup_asn($c->[0]);
	fail("$c->[0]: the database written says AS" . ($got // 'none')
	    . ", expected AS$c->[1]") if ($got // -1) != $c->[1];
}
for my $s (@samples) {
	my $got = lookup_asn($s->[0]);
	fail("$s->[2]: $s->[0] is AS" . ($got // 'none') . " in the database "
	    . "written, the CSV says AS$s->[1]") if ($got // -1) != $s->[1];
}

rename($tmp, $out) or fail("rename $tmp to $out: $!");
exit 0;
