# bash completion for rexec(1)                                   -*- shell-script -*-
#
# The candidates come from the binary itself, `rexec __complete WORD... CUR`
# (client/complete.c), as kubectl's and docker's completions do: the same option table as the
# parser, host names and @groups from the inventory, services from the service cache, and never
# a connection to an agent. Each output line is a candidate (a TAB and a description may
# follow); the last one is a directive: ":files" or ":dirs" for local names, ":" for nothing
# more. The candidates are taken as data into COMPREPLY, never through `compgen -W` (which
# would expand them) nor eval.
# With bash-completion, _init_completion keeps --opt=value and a:b whole; without it, plain
# `complete -F` on the words bash splits.

_rexec()
{
    local cur words cword
    if declare -F _init_completion >/dev/null 2>&1; then
        local prev split
        _init_completion -n =: || return
    else
        # COMP_WORDS is split at = and : too: the words of the line up to the cursor instead
        local line=${COMP_LINE:0:COMP_POINT}
        read -ra words <<<"$line"
        [[ -z $line || $line == *[[:space:]] ]] && words+=("")
        cword=$((${#words[@]} - 1))
        cur=${words[cword]}
    fi

    # (bash shows a completion function neither VAR=VALUE words before the command nor
    # anything before them: a REXEC_CONFIG=FILE there is not seen; an exported one is.)
    local bin=${words[0]}
    [[ $bin == "~/"* ]] && bin=$HOME/${bin#"~/"}

    local out line directive=
    local -a cands=()
    out=$("$bin" __complete "${words[@]:1:cword-1}" "$cur" 2>/dev/null) || return
    while IFS= read -r line; do
        case $line in
        :*) directive=${line#:} ;;
        *) cands+=("${line%%$'\t'*}") ;;
        esac
    done <<<"$out"

    case $directive in
    files | dirs)
        if declare -F _filedir >/dev/null 2>&1; then
            [[ $directive == dirs ]] && _filedir -d || _filedir
        else
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen "-${directive:0:1}" -- "$cur")
        fi
        return
        ;;
    esac
    # Readline replaces only what follows the word's last COMP_WORDBREAKS character (= and :
    # by default), as bash-completion's __ltrim_colon_completions knows: give it that part.
    local keep=${cur%"${cur##*[=:]}"}
    if [[ -n $keep && $COMP_WORDBREAKS == *"${keep: -1}"* ]]; then
        cands=("${cands[@]#"$keep"}")
    fi
    COMPREPLY=("${cands[@]}")
}
complete -F _rexec rexec

# ex: filetype=sh
