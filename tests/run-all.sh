#!/usr/bin/env bash
# One test command for three runtimes: the same tests/**/*.test.ts files under Node (tsx + node:test),
# Deno (deno test -A) and Bun (bun test). Runs all three even when one fails; exits non-zero if any failed.
# Prints a per-runtime summary (pass/fail counts) at the end.
set -u
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
mapfile -t FILES < <(find tests -name '*.test.ts' -not -path '*/node_modules/*' -not -path 'tests/chaos/long/*' | sort)
if [ "${#FILES[@]}" -eq 0 ]; then echo "no test files found" >&2; exit 1; fi
LOGDIR=$(mktemp -d)
# One packed tarball per run, shared by the runners (tests/helpers/package.ts).
export EDGEPLANE_TEST_RUN=${EDGEPLANE_TEST_RUN:-$(date +%s)-$$}
declare -A RC SUMMARY
run() {
  local name=$1; shift
  echo "=== $name: $* (${#FILES[@]} files)"
  "$@" 2>&1 | tee "$LOGDIR/$name.log"
  RC[$name]=${PIPESTATUS[0]}
}
RUNTIMES=${EDGEPLANE_RUNTIMES:-node deno bun}
echo "=== check: tsc --noEmit && deno check mod.ts"
if npm run --silent check; then CHECK=ok; else CHECK=FAILED; fi
for rt in $RUNTIMES; do
  case $rt in
    node) run node tsx --test --test-concurrency=1 "${FILES[@]}" ;;
    deno) NO_COLOR=1 run deno deno test -A --no-check "${FILES[@]}" ;;
    bun)  run bun bun test --timeout 120000 "${FILES[@]/#/./}" ;;
  esac
done
status=0
echo
echo "=== summary"
echo "check $CHECK (tsc --noEmit, deno check)"
[ "$CHECK" = ok ] || status=1
for rt in $RUNTIMES; do
  log="$LOGDIR/$rt.log"
  case $rt in
    node) pass=$(grep -E '^# pass ' "$log" | awk '{print $3}'); fail=$(grep -E '^# fail ' "$log" | awk '{print $3}') ;;
    deno) line=$(grep -aE '^(ok|FAILED) \|' "$log" | tail -1)
          pass=$(sed -nE 's/.*passed \(([0-9]+) steps?\).*/\1/p' <<<"$line"); fail=$(sed -nE 's/.*\| ([0-9]+) failed \(([0-9]+) steps?\).*/\2/p' <<<"$line")
          [ -n "$fail" ] || fail=$(sed -nE 's/.*\| ([0-9]+) failed.*/\1/p' <<<"$line") ;;
    bun)  pass=$(grep -aE '^ *[0-9]+ pass' "$log" | tail -1 | awk '{print $1}'); fail=$(grep -aE '^ *[0-9]+ fail' "$log" | tail -1 | awk '{print $1}') ;;
  esac
  printf '%-5s exit=%s pass=%s fail=%s\n' "$rt" "${RC[$rt]}" "${pass:-?}" "${fail:-?}"
  if [ "${RC[$rt]}" != 0 ] || [ -z "${pass:-}" ] || [ "${pass:-0}" = 0 ]; then status=1; fi
done
rm -rf "$LOGDIR"
exit $status
