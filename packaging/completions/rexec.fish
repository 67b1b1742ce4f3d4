# fish completion for rexec(1)
#
# The candidates come from the binary itself, `rexec __complete WORD... CUR`
# (client/complete.c), as kubectl's and docker's completions do: the same option table as the
# parser, host names and @groups from the inventory, services from the service cache, and never
# a connection to an agent. Each output line is a candidate (TAB, then a description: fish's
# own format); the last one is a directive: ":files" or ":dirs" for local names, ":" for
# nothing more.

function __rexec_complete
    set -l words (commandline -opc)
    set -l cur (commandline -ct)
    # VAR=VALUE words before the command; REXEC_CONFIG=FILE names the config to read.
    set -l i 1
    set -l config
    while test $i -lt (count $words); and string match -qr '^[A-Za-z_][A-Za-z0-9_]*=' -- $words[$i]
        string match -q 'REXEC_CONFIG=*' -- $words[$i]
        and set config (string replace 'REXEC_CONFIG=' '' -- $words[$i])
        set i (math $i + 1)
    end
    set -l bin $words[$i]
    set -l args $words
    set -e args[1..$i]
    set -l out
    if test -n "$config"
        set out (env REXEC_CONFIG=$config $bin __complete $args "$cur" 2>/dev/null)
    else
        set out ($bin __complete $args "$cur" 2>/dev/null)
    end
    for line in $out
        switch $line
            case ':files'
                __fish_complete_path "$cur"
            case ':dirs'
                __fish_complete_directories "$cur"
            case ':*'
            case '*'
                printf '%s\n' $line
        end
    end
end

complete -c rexec -f -a '(__rexec_complete)'
