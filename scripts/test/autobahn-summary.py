#!/usr/bin/env python3
"""Summarize an Autobahn|Testsuite report directory (its index.json).

    autobahn-summary.py REPORT_DIR [--label NAME] [--list]

Prints one row per case group (1.* ... 13.*) with the count of each
behaviour, the cases that are not OK, and a last line:

    autobahn[NAME]: N cases, OK=.., NON-STRICT=.., INFORMATIONAL=..,
    UNIMPLEMENTED=.., FAILED=.., close: OK=.., ... -> PASS|FAIL

The run FAILS (exit 1) on any FAILED behaviour or close behaviour, and on any
NON-STRICT or UNIMPLEMENTED case, in every group: 12.* and 13.* test
permessage-deflate (RFC 7692), which every face of wsmachine implements, so an
UNIMPLEMENTED there means the face did not negotiate it. INFORMATIONAL never
fails. Exit 2: no report. Python 3 standard library only.
"""

import argparse
import json
import os
import sys
from collections import Counter, defaultdict

BEHAVIOURS = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]

GROUPS = {
    1: "framing (text/binary, all payload lengths)",
    2: "pings and pongs",
    3: "reserved bits",
    4: "reserved opcodes",
    5: "fragmentation",
    6: "UTF-8 handling",
    7: "close handling",
    9: "limits/performance (large messages, many fragments)",
    10: "misc (auto-fragmentation)",
    12: "permessage-deflate",
    13: "permessage-deflate parameters",
}
COMPRESSION_GROUPS = {12, 13}
# Groups the summary always lists (0 rows too), so that a run that skipped them shows it.
EXPECTED_GROUPS = sorted(GROUPS)


def case_key(case_id):
    return tuple(int(p) if p.isdigit() else p for p in case_id.split("."))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("report_dir")
    ap.add_argument("--label", default=None, help="name shown in the last line")
    ap.add_argument("--list", action="store_true", help="list every case that is not OK")
    args = ap.parse_args()

    index_path = os.path.join(args.report_dir, "index.json")
    try:
        with open(index_path) as f:
            index = json.load(f)
    except (OSError, ValueError) as e:
        print("autobahn: no usable report at %s (%s)" % (index_path, e))
        return 2
    if not index:
        print("autobahn: %s lists no agent" % index_path)
        return 2

    status = 0
    for agent, cases in sorted(index.items()):
        label = args.label or agent
        behaviour = Counter()
        closing = Counter()
        per_group = defaultdict(Counter)
        bad = []  # (case, why) that make the run fail
        notes = []  # not OK but acceptable
        duration = 0
        for case_id in sorted(cases, key=case_key):
            r = cases[case_id]
            group = int(case_id.split(".")[0])
            b, bc = r.get("behavior", "?"), r.get("behaviorClose", "?")
            behaviour[b] += 1
            closing[bc] += 1
            per_group[group][b] += 1
            if bc not in ("OK", "INFORMATIONAL"):
                per_group[group]["close!"] += 1
            duration += r.get("duration", 0) or 0
            why = None
            if b == "FAILED" or bc not in ("OK", "INFORMATIONAL"):
                why = "behaviour %s, close %s" % (b, bc)
            elif b in ("NON-STRICT", "UNIMPLEMENTED"):
                why = b
            elif b != "OK" or bc != "OK":
                notes.append((case_id, "behaviour %s, close %s" % (b, bc)))
            if why:
                bad.append((case_id, why + ", remote close code %s" % r.get("remoteCloseCode")))

        print("autobahn[%s]: agent %s, %s" % (label, agent, args.report_dir))
        head = "%-6s %5s " % ("group", "cases") + " ".join("%13s" % b for b in BEHAVIOURS)
        head += " %9s  %s" % ("close!=OK", "what")
        print(head)
        for g in sorted(set(per_group) | set(EXPECTED_GROUPS)):
            c = per_group[g]
            row = "%-6s %5d " % ("%d.*" % g, sum(c[b] for b in c if b != "close!"))
            row += " ".join("%13d" % c[b] for b in BEHAVIOURS)
            row += " %9d  %s" % (c["close!"], GROUPS.get(g, ""))
            print(row)
        comp = sum(sum(per_group[g][b] for b in BEHAVIOURS) for g in COMPRESSION_GROUPS)
        comp_ok = sum(per_group[g]["OK"] for g in COMPRESSION_GROUPS)
        print("permessage-deflate (12.*, 13.*): %d of %d cases OK" % (comp_ok, comp))
        if notes and (args.list or len(notes) <= 10):
            print("acceptable, not OK: " + "; ".join("%s (%s)" % n for n in notes))
        for case_id, why in bad[: None if args.list else 25]:
            print("FAIL %s: %s" % (case_id, why))
        if len(bad) > 25 and not args.list:
            print("... and %d more (use --list)" % (len(bad) - 25))
        verdict = "FAIL" if bad else "PASS"
        if bad:
            status = 1
        print(
            "autobahn[%s]: %d cases, %s, close: %s (case time %.1f s) -> %s"
            % (
                label,
                sum(behaviour.values()),
                ", ".join("%s=%d" % (b, behaviour[b]) for b in BEHAVIOURS),
                ", ".join("%s=%d" % (b, n) for b, n in sorted(closing.items())),
                duration / 1000.0,
                verdict,
            )
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
