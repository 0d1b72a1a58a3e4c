# bash completion for mailtap, the client (installed as share/bash-completion/completions/mailtap).
#
# Commands, options and choices are read from the help of the program being completed
# (`mailtap --help`, `mailtap COMMAND --help`), so they always match the installed version.

# The helpers are shared with mailtapd's completion; bash-completion loads each file on its own.
if ! declare -F _mailtap_help_options >/dev/null; then
  _mailtap_help_options() {
    "$@" --help 2>/dev/null | grep -oE '(^|[ ,])--[a-z][a-z0-9-]*' | sed 's/^[ ,]*//' | sort -u
  }
  _mailtap_help_choices() {
    local option="$1"
    shift
    "$@" --help 2>/dev/null | grep -E -- "(^|[ ,])${option}( |\\]|$)" | head -n1 |
      grep -oE '[a-z0-9_-]+( ?\| ?[a-z0-9_-]+)+' | head -n1 | tr -d ' ' | tr '|' '\n'
  }
fi

# Prints the commands listed under "Commands:" in `mailtap --help`.
_mailtap_commands() {
  "$1" --help 2>/dev/null | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p'
}

_mailtap() {
  local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD - 1]}"
  local program="${COMP_WORDS[0]}" command="" i
  COMPREPLY=()
  # The command is the first word that is neither an option nor the value of --socket.
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "${COMP_WORDS[i]}" in
      --socket) ((i++)) ;;
      -*) ;;
      *) command="${COMP_WORDS[i]}"; break ;;
    esac
  done
  if [[ "${prev}" == --socket ]]; then
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -f -- "${cur}")
    return
  fi
  if [[ -z "${command}" ]]; then
    if [[ "${cur}" == -* ]]; then
      mapfile -t COMPREPLY < <(compgen -W "$(_mailtap_help_options "${program}")" -- "${cur}")
    else
      mapfile -t COMPREPLY < <(compgen -W "$(_mailtap_commands "${program}")" -- "${cur}")
    fi
    return
  fi
  local help=("${program}" "${command}")
  if [[ "${prev}" == -o ]]; then prev=--output; fi
  if [[ "${prev}" == --* ]]; then
    local choices
    choices="$(_mailtap_help_choices "${prev}" "${help[@]}")"
    if [[ -n "${choices}" ]]; then
      mapfile -t COMPREPLY < <(compgen -W "${choices}" -- "${cur}")
      return
    fi
  fi
  if [[ "${cur}" == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_mailtap_help_options "${help[@]}")" -- "${cur}")
  fi
}
complete -F _mailtap mailtap
