# bash completion for mailtapd (installed as share/bash-completion/completions/mailtapd).
#
# Option names and their choices are read from `mailtapd --help` of the program being completed,
# so the completion always matches the installed version: an option whose value name lists
# choices (`--redact credentials|data|none`) completes to those choices.

# Prints the long options of `PROGRAM --help`, one per line.
_mailtap_help_options() {
  "$@" --help 2>/dev/null | grep -oE '(^|[ ,])--[a-z][a-z0-9-]*' | sed 's/^[ ,]*//' | sort -u
}

# Prints the choices that `PROGRAM --help` lists for OPTION, one per line: its value name
# (`--log-format json|zeek`) or else its description (`-o [ --output ] arg   json | compact`).
_mailtap_help_choices() {
  local option="$1"
  shift
  "$@" --help 2>/dev/null | grep -E -- "(^|[ ,])${option}( |\\]|$)" | head -n1 |
    grep -oE '[a-z0-9_-]+( ?\| ?[a-z0-9_-]+)+' | head -n1 | tr -d ' ' | tr '|' '\n'
}

# Completes COMPREPLY with the files (or with -d, directories) matching CUR.
_mailtap_files() {
  compopt -o filenames 2>/dev/null
  mapfile -t COMPREPLY < <(compgen "${@:2}" -- "$1")
}

_mailtapd() {
  local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD - 1]}"
  local program="${COMP_WORDS[0]}"
  COMPREPLY=()
  case "${prev}" in
    -r | --read | --config | --events | --socket) _mailtap_files "${cur}" -f; return ;;
    --log-dir | --extract-dir) _mailtap_files "${cur}" -d; return ;;
    -i | --interface)
      mapfile -t COMPREPLY < <(compgen -W "$(ls /sys/class/net 2>/dev/null)" -- "${cur}")
      return ;;
    --user) mapfile -t COMPREPLY < <(compgen -u -- "${cur}"); return ;;
    --socket-group) mapfile -t COMPREPLY < <(compgen -g -- "${cur}"); return ;;
    --log-level)
      mapfile -t COMPREPLY < <(compgen -W "error warn info debug" -- "${cur}"); return ;;
    --events-include)
      # A comma-separated list: complete its last word with the groups and the event names.
      local head="" names
      [[ "${cur}" == *,* ]] && head="${cur%,*},"
      names="protocol content all $("${program}" --list-events 2>/dev/null |
        grep -oE '"event":"[a-z_]+"' | cut -d'"' -f4)"
      mapfile -t COMPREPLY < <(compgen -P "${head}" -W "${names}" -- "${cur##*,}")
      return ;;
    --*)
      local choices
      choices="$(_mailtap_help_choices "${prev}" "${program}")"
      if [[ -n "${choices}" ]]; then
        mapfile -t COMPREPLY < <(compgen -W "${choices}" -- "${cur}")
        return
      fi ;;
  esac
  if [[ "${cur}" == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_mailtap_help_options "${program}")" -- "${cur}")
  fi
}
complete -F _mailtapd mailtapd
