#!/bin/sh
# help2man reads one `--help`; the client's options are per command. This prints the client's
# help followed by each command's (`mailtap COMMAND --help`), so the man page has them all.
#   client-help.sh MAILTAP --help|--version
set -eu
client="$1"
shift
if [ "${1:-}" != "--help" ]; then exec "${client}" "$@"; fi
"${client}" --help
for command in $("${client}" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p'); do
  echo
  "${client}" "${command}" --help
done
