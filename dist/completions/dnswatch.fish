# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_dnswatch_global_optspecs
    string join \n log= h/help V/version
end

function __fish_dnswatch_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_dnswatch_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_dnswatch_using_subcommand
    set -l cmd (__fish_dnswatch_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c dnswatch -n "__fish_dnswatch_needs_command" -l log -d 'Log filter (tracing EnvFilter syntax, e.g. `info`, `dnswatch=debug`); RUST_LOG overrides it' -r
complete -c dnswatch -n "__fish_dnswatch_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dnswatch -n "__fish_dnswatch_needs_command" -s V -l version -d 'Print version'
complete -c dnswatch -n "__fish_dnswatch_needs_command" -f -a "replay" -d 'Replay capture files into the database'
complete -c dnswatch -n "__fish_dnswatch_needs_command" -f -a "run" -d 'Capture live on interfaces and record watched lookups (the daemon)'
complete -c dnswatch -n "__fish_dnswatch_needs_command" -f -a "lookups" -d 'List recorded lookups'
complete -c dnswatch -n "__fish_dnswatch_needs_command" -f -a "pdns" -d 'Passive DNS: which records a name had, or which names pointed at an address, network or name'
complete -c dnswatch -n "__fish_dnswatch_needs_command" -f -a "alerts" -d 'List alerts, or follow them as they are raised'
complete -c dnswatch -n "__fish_dnswatch_needs_command" -f -a "report" -d 'The evidence report for one watched entry'
complete -c dnswatch -n "__fish_dnswatch_needs_command" -f -a "db" -d 'Database maintenance: `prune` old lookups, `stats` about the contents'
complete -c dnswatch -n "__fish_dnswatch_needs_command" -f -a "detect" -d 'Run the detectors over the fleet\'s lookups in ClickHouse'
complete -c dnswatch -n "__fish_dnswatch_needs_command" -f -a "check-config" -d 'Validate a configuration file and its watch list, then exit'
complete -c dnswatch -n "__fish_dnswatch_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand replay" -s c -l config -d 'Configuration file (TOML). Every key is optional; see config/dnswatch.toml' -r -F
complete -c dnswatch -n "__fish_dnswatch_using_subcommand replay" -l db -d 'SQLite database to write (created if missing, appended otherwise). Overrides storage.database; default `dnswatch.db`' -r -F
complete -c dnswatch -n "__fish_dnswatch_using_subcommand replay" -s w -l watch -d 'Watch entry; repeat for several. Added to the config\'s watch list' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand replay" -l alerts -d 'JSON-lines alert log to append to (overrides alerts.log)' -r -F
complete -c dnswatch -n "__fish_dnswatch_using_subcommand replay" -l port -d 'DNS port; repeat for several (overrides capture.dns_ports; default 53)' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand replay" -l clickhouse -d 'Also send lookups, alerts, summaries and hourly counters to this ClickHouse server (HTTP interface, e.g. http://127.0.0.1:8123); overrides storage.clickhouse.url. Batches are spooled on disk first (storage.clickhouse.spool_dir, default `<db>.clickhouse-spool`)' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand replay" -l sensor -d 'Sensor name recorded on every lookup (overrides capture.sensor; default: the host name)' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand replay" -l bpf -d 'BPF filter (libpcap syntax, e.g. `udp port 53 and host 192.0.2.1`) applied to the packets of capture files; dnstap messages are not filtered. Wins over capture.filter of the config, which replay honours too when --bpf is not given. A filter libpcap cannot compile is exit 2' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand replay" -l log -d 'Log filter (tracing EnvFilter syntax, e.g. `info`, `dnswatch=debug`); RUST_LOG overrides it' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand replay" -l no-progress -d 'Never show a progress bar'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand replay" -l no-db -d 'Write no SQLite database: the lookups go to ClickHouse only (needs --clickhouse or storage.clickhouse.url; the detectors start without the history a database would give them)'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand replay" -s r -l recursive -d 'Descend into the subdirectories of directories given as CAPTURE'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand replay" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand replay" -s V -l version -d 'Print version'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand run" -s c -l config -d 'Configuration file (TOML). Every key is optional; see config/dnswatch.toml' -r -F
complete -c dnswatch -n "__fish_dnswatch_using_subcommand run" -l db -d 'SQLite database to write (created if missing, appended otherwise). Overrides storage.database; default `dnswatch.db`' -r -F
complete -c dnswatch -n "__fish_dnswatch_using_subcommand run" -s w -l watch -d 'Watch entry; repeat for several. Added to the config\'s watch list' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand run" -l alerts -d 'JSON-lines alert log to append to (overrides alerts.log)' -r -F
complete -c dnswatch -n "__fish_dnswatch_using_subcommand run" -l port -d 'DNS port; repeat for several (overrides capture.dns_ports; default 53)' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand run" -l clickhouse -d 'Also send lookups, alerts, summaries and hourly counters to this ClickHouse server (HTTP interface, e.g. http://127.0.0.1:8123); overrides storage.clickhouse.url. Batches are spooled on disk first (storage.clickhouse.spool_dir, default `<db>.clickhouse-spool`)' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand run" -l sensor -d 'Sensor name recorded on every lookup (overrides capture.sensor; default: the host name)' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand run" -s i -l interface -d 'Interface to capture on; repeat for several (overrides capture.interfaces)' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand run" -l dnstap-socket -d 'Listen for dnstap (Frame Streams) on this unix socket; repeat for several (adds to capture.dnstap_sockets). With only dnstap inputs no interface is opened and no CAP_NET_RAW is needed' -r -F
complete -c dnswatch -n "__fish_dnswatch_using_subcommand run" -l dnstap-tcp -d 'Listen for dnstap over TCP on ADDR:PORT; repeat for several (adds to capture.dnstap_tcp)' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand run" -l user -d 'Once the captures are open, switch to this user (and its group), as tcpdump -Z does (overrides run.user). Needs to start as root' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand run" -l log -d 'Log filter (tracing EnvFilter syntax, e.g. `info`, `dnswatch=debug`); RUST_LOG overrides it' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand run" -s V -l version -d 'Print version'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand lookups" -l db -d 'Database to read' -r -F
complete -c dnswatch -n "__fish_dnswatch_using_subcommand lookups" -l name -d 'Only this query name; `*.zone` for the zone and everything below it' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand lookups" -l querier -d 'Only lookups by this querier: an address, or a network such as `192.0.2.0/24` or `2001:db8::/32`' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand lookups" -l server -d 'Only lookups sent to this server: an address or a network' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand lookups" -l qtype -d 'Only lookups of this query type: a mnemonic (A, AAAA, TXT, TYPE65534…, any case) or a number (28)' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand lookups" -l rcode -d 'Only lookups answered with this rcode: a mnemonic (NOERROR, NXDOMAIN, SERVFAIL…, any case) or a number (3)' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand lookups" -l entry -d 'Only lookups that matched this watch entry' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand lookups" -l since -d 'From this time (RFC 3339, `YYYY-MM-DD[ HH:MM[:SS]]` UTC, or `@unix-seconds`)' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand lookups" -l until -d 'Up to (not including) this time' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand lookups" -l format -d 'Output format' -r -f -a "table\t'Aligned columns'
csv\t'Comma-separated values with a header'
json\t'One JSON object per line'
ecs\t'One Elastic Common Schema (ECS) object per line'"
complete -c dnswatch -n "__fish_dnswatch_using_subcommand lookups" -l limit -d 'Stop after this many rows' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand lookups" -l clickhouse -d 'Read the fleet\'s ClickHouse store (HTTP URL, e.g. http://127.0.0.1:8123) instead of --db: the lookups and alerts of every sensor (the `<table>_all` Distributed tables when storage.clickhouse.cluster is set)' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand lookups" -l sensor -d 'With --clickhouse: only what this sensor recorded' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand lookups" -l config -d 'With --clickhouse: configuration file whose [storage.clickhouse] gives the database, credentials, TLS, table prefix and cluster' -r -F
complete -c dnswatch -n "__fish_dnswatch_using_subcommand lookups" -l log -d 'Log filter (tracing EnvFilter syntax, e.g. `info`, `dnswatch=debug`); RUST_LOG overrides it' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand lookups" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand lookups" -s V -l version -d 'Print version'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand pdns" -l db -d 'Database to read' -r -F
complete -c dnswatch -n "__fish_dnswatch_using_subcommand pdns" -l rdata -d 'Names whose records point here: an address, a CIDR, a name or `*.zone`' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand pdns" -l since -d 'Only rrsets last seen at or after this time (RFC 3339, `YYYY-MM-DD[ HH:MM[:SS]]` UTC, or `@unix-seconds`)' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand pdns" -l until -d 'Only rrsets first seen before this time' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand pdns" -l sensor -d 'Only what this sensor saw' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand pdns" -l format -d 'Output format (`json`: Passive DNS Common Output Format lines)' -r -f -a "table\t'Aligned columns'
csv\t'Comma-separated values with a header'
json\t'Passive DNS Common Output Format, one JSON object per line'"
complete -c dnswatch -n "__fish_dnswatch_using_subcommand pdns" -l limit -d 'Stop after this many rows' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand pdns" -l log -d 'Log filter (tracing EnvFilter syntax, e.g. `info`, `dnswatch=debug`); RUST_LOG overrides it' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand pdns" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand pdns" -s V -l version -d 'Print version'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand alerts" -l db -d 'Database to read' -r -F
complete -c dnswatch -n "__fish_dnswatch_using_subcommand alerts" -l since -d 'Only alerts at or after this time' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand alerts" -l until -d 'Only alerts before this time (not included)' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand alerts" -l kind -d 'Only alerts of this kind (new_querier, concentration, burst, quiet, resumed, rcode_change, answer_change, new_name, periodic)' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand alerts" -l entry -d 'Only alerts about this watch entry' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand alerts" -l format -d 'Output format' -r -f -a "table\t'Aligned columns'
json\t'One JSON object per line (the alert log format)'
csv\t'Comma-separated values (RFC 4180) with a header row: ts, severity, kind, entry, name, querier, message'
ecs\t'One Elastic Common Schema (ECS) object per line (`alerts.format = "ecs"`)'"
complete -c dnswatch -n "__fish_dnswatch_using_subcommand alerts" -l clickhouse -d 'Read the fleet\'s ClickHouse store (HTTP URL, e.g. http://127.0.0.1:8123) instead of --db: the lookups and alerts of every sensor (the `<table>_all` Distributed tables when storage.clickhouse.cluster is set)' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand alerts" -l sensor -d 'With --clickhouse: only what this sensor recorded' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand alerts" -l config -d 'With --clickhouse: configuration file whose [storage.clickhouse] gives the database, credentials, TLS, table prefix and cluster' -r -F
complete -c dnswatch -n "__fish_dnswatch_using_subcommand alerts" -l log -d 'Log filter (tracing EnvFilter syntax, e.g. `info`, `dnswatch=debug`); RUST_LOG overrides it' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand alerts" -s f -l follow -d 'Keep running and print new alerts as they are committed'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand alerts" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand alerts" -s V -l version -d 'Print version'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand report" -l db -d 'Database to read' -r -F
complete -c dnswatch -n "__fish_dnswatch_using_subcommand report" -l from -d 'From this time' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand report" -l to -d 'Up to (not including) this time' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand report" -l format -d 'Output format' -r -f -a "text\t'Plain text for people'
json\t'One JSON document'"
complete -c dnswatch -n "__fish_dnswatch_using_subcommand report" -l svg -d 'Write the timeline chart as SVG to FILE' -r -F
complete -c dnswatch -n "__fish_dnswatch_using_subcommand report" -l events -d 'CSV of dated events (`date,label` per line) to overlay and compare' -r -F
complete -c dnswatch -n "__fish_dnswatch_using_subcommand report" -l clickhouse -d 'Read the fleet\'s ClickHouse store (HTTP URL, e.g. http://127.0.0.1:8123) instead of --db: the lookups and alerts of every sensor (the `<table>_all` Distributed tables when storage.clickhouse.cluster is set)' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand report" -l sensor -d 'With --clickhouse: only what this sensor recorded' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand report" -l config -d 'With --clickhouse: configuration file whose [storage.clickhouse] gives the database, credentials, TLS, table prefix and cluster' -r -F
complete -c dnswatch -n "__fish_dnswatch_using_subcommand report" -l log -d 'Log filter (tracing EnvFilter syntax, e.g. `info`, `dnswatch=debug`); RUST_LOG overrides it' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand report" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand report" -s V -l version -d 'Print version'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand db; and not __fish_seen_subcommand_from prune stats help" -l log -d 'Log filter (tracing EnvFilter syntax, e.g. `info`, `dnswatch=debug`); RUST_LOG overrides it' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand db; and not __fish_seen_subcommand_from prune stats help" -s h -l help -d 'Print help'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand db; and not __fish_seen_subcommand_from prune stats help" -s V -l version -d 'Print version'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand db; and not __fish_seen_subcommand_from prune stats help" -f -a "prune" -d 'Delete lookups older than the retention period, and the per-querier and per-name summaries and passive-DNS rrsets last seen before it (counters, alerts and detector state are kept)'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand db; and not __fish_seen_subcommand_from prune stats help" -f -a "stats" -d 'Row counts, time span and size of the database, with the bytes of each table (its pages and its indexes\')'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand db; and not __fish_seen_subcommand_from prune stats help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand db; and __fish_seen_subcommand_from prune" -l db -d 'Database' -r -F
complete -c dnswatch -n "__fish_dnswatch_using_subcommand db; and __fish_seen_subcommand_from prune" -l older-than-days -d 'Delete lookups older than this many days (of wall-clock time; at most 36525)' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand db; and __fish_seen_subcommand_from prune" -l log -d 'Log filter (tracing EnvFilter syntax, e.g. `info`, `dnswatch=debug`); RUST_LOG overrides it' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand db; and __fish_seen_subcommand_from prune" -s h -l help -d 'Print help'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand db; and __fish_seen_subcommand_from prune" -s V -l version -d 'Print version'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand db; and __fish_seen_subcommand_from stats" -l clickhouse -d 'Read the fleet\'s ClickHouse store (HTTP URL, e.g. http://127.0.0.1:8123) instead of --db: the lookups and alerts of every sensor (the `<table>_all` Distributed tables when storage.clickhouse.cluster is set)' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand db; and __fish_seen_subcommand_from stats" -l sensor -d 'With --clickhouse: only what this sensor recorded' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand db; and __fish_seen_subcommand_from stats" -l config -d 'With --clickhouse: configuration file whose [storage.clickhouse] gives the database, credentials, TLS, table prefix and cluster' -r -F
complete -c dnswatch -n "__fish_dnswatch_using_subcommand db; and __fish_seen_subcommand_from stats" -l db -d 'Database' -r -F
complete -c dnswatch -n "__fish_dnswatch_using_subcommand db; and __fish_seen_subcommand_from stats" -l log -d 'Log filter (tracing EnvFilter syntax, e.g. `info`, `dnswatch=debug`); RUST_LOG overrides it' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand db; and __fish_seen_subcommand_from stats" -s h -l help -d 'Print help'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand db; and __fish_seen_subcommand_from stats" -s V -l version -d 'Print version'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand db; and __fish_seen_subcommand_from help" -f -a "prune" -d 'Delete lookups older than the retention period, and the per-querier and per-name summaries and passive-DNS rrsets last seen before it (counters, alerts and detector state are kept)'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand db; and __fish_seen_subcommand_from help" -f -a "stats" -d 'Row counts, time span and size of the database, with the bytes of each table (its pages and its indexes\')'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand db; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand detect" -l clickhouse -d 'The fleet\'s ClickHouse store (HTTP URL)' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand detect" -l sensor -d 'Only lookups of this sensor (default: every sensor)' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand detect" -l config -d 'Configuration file: [storage.clickhouse] (database, credentials, cluster) and [detectors] (thresholds)' -r -F
complete -c dnswatch -n "__fish_dnswatch_using_subcommand detect" -l since -d 'From this time (RFC 3339, `YYYY-MM-DD[ HH:MM[:SS]]` UTC, or `@unix-seconds`)' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand detect" -l until -d 'Up to (not including) this time (default: everything after --since)' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand detect" -l log -d 'Log filter (tracing EnvFilter syntax, e.g. `info`, `dnswatch=debug`); RUST_LOG overrides it' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand detect" -l dry-run -d 'Print the alerts only; do not store them in ClickHouse'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand detect" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand detect" -s V -l version -d 'Print version'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand check-config" -s c -l config -d 'Configuration file' -r -F
complete -c dnswatch -n "__fish_dnswatch_using_subcommand check-config" -l log -d 'Log filter (tracing EnvFilter syntax, e.g. `info`, `dnswatch=debug`); RUST_LOG overrides it' -r
complete -c dnswatch -n "__fish_dnswatch_using_subcommand check-config" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand check-config" -s V -l version -d 'Print version'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand help; and not __fish_seen_subcommand_from replay run lookups pdns alerts report db detect check-config help" -f -a "replay" -d 'Replay capture files into the database'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand help; and not __fish_seen_subcommand_from replay run lookups pdns alerts report db detect check-config help" -f -a "run" -d 'Capture live on interfaces and record watched lookups (the daemon)'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand help; and not __fish_seen_subcommand_from replay run lookups pdns alerts report db detect check-config help" -f -a "lookups" -d 'List recorded lookups'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand help; and not __fish_seen_subcommand_from replay run lookups pdns alerts report db detect check-config help" -f -a "pdns" -d 'Passive DNS: which records a name had, or which names pointed at an address, network or name'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand help; and not __fish_seen_subcommand_from replay run lookups pdns alerts report db detect check-config help" -f -a "alerts" -d 'List alerts, or follow them as they are raised'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand help; and not __fish_seen_subcommand_from replay run lookups pdns alerts report db detect check-config help" -f -a "report" -d 'The evidence report for one watched entry'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand help; and not __fish_seen_subcommand_from replay run lookups pdns alerts report db detect check-config help" -f -a "db" -d 'Database maintenance: `prune` old lookups, `stats` about the contents'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand help; and not __fish_seen_subcommand_from replay run lookups pdns alerts report db detect check-config help" -f -a "detect" -d 'Run the detectors over the fleet\'s lookups in ClickHouse'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand help; and not __fish_seen_subcommand_from replay run lookups pdns alerts report db detect check-config help" -f -a "check-config" -d 'Validate a configuration file and its watch list, then exit'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand help; and not __fish_seen_subcommand_from replay run lookups pdns alerts report db detect check-config help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand help; and __fish_seen_subcommand_from db" -f -a "prune" -d 'Delete lookups older than the retention period, and the per-querier and per-name summaries and passive-DNS rrsets last seen before it (counters, alerts and detector state are kept)'
complete -c dnswatch -n "__fish_dnswatch_using_subcommand help; and __fish_seen_subcommand_from db" -f -a "stats" -d 'Row counts, time span and size of the database, with the bytes of each table (its pages and its indexes\')'
