# bash completion for kzsearch: commands, each command's options, and
# files or folders where an option or argument takes one.
# Installed as PREFIX/share/bash-completion/completions/kzsearch.

_kzsearch()
{
    local cur prev words cword
    if declare -F _init_completion >/dev/null 2>&1; then
        _init_completion || return
    else
        COMPREPLY=()
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD-1]}
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    fi

    local commands="search index add update delete optimize stats check analyze run extract serve shards help"
    local global="--index --json --help --version -h -V"
    local search_opts="--index --limit -n --count --ids -l --since --until --date-field --sort
        --facet --offset --any --all --k1 --b --snippet-chars --fragments --explain --json
        --color --timeout --strict --synonyms --no-collapse --remote --help"
    local build_opts="-o --output --index --lang --memory --threads --max-doc --store-level
        --shard --field --quiet -q --help"

    # The command: the first word that is one, past the global options.
    local cmd="" i
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            --index) ((i++)) ;;
            -*) ;;
            *)
                case " $commands " in
                    *" ${words[i]} "*) cmd=${words[i]} ;;
                    *) cmd=search ;;
                esac
                break
                ;;
        esac
    done

    # An option's argument.
    case $prev in
        --index|-o|--output)
            COMPREPLY=($(compgen -d -- "$cur"))
            return ;;
        --queries|--latency|--ids-from)
            COMPREPLY=($(compgen -f -- "$cur"))
            return ;;
        --color)
            COMPREPLY=($(compgen -W "auto always never" -- "$cur"))
            return ;;
        --mode)
            COMPREPLY=($(compgen -W "and or" -- "$cur"))
            return ;;
        --sort)
            COMPREPLY=($(compgen -W "score date -date" -- "$cur"))
            return ;;
        --lang)
            COMPREPLY=($(compgen -W "arabic armenian basque catalan danish dutch english finnish
                french german greek hindi hungarian indonesian irish italian lithuanian nepali
                norwegian portuguese romanian russian serbian spanish swedish tamil turkish yiddish" -- "$cur"))
            return ;;
        --limit|-n|-k|--offset|--memory|--threads|--max-doc|--store-level|--k1|--b|--snippet-chars|\
        --fragments|--timeout|--since|--until|--date-field|--facet|--tag)
            return ;;
    esac

    local opts
    case $cmd in
        "")
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "$global $search_opts" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "$commands" -- "$cur"))
            fi
            return ;;
        search) opts=$search_opts ;;
        index) opts="$build_opts --replace" ;;
        add) opts="$build_opts --no-merge" ;;
        update|optimize) opts="--index --memory --threads --quiet -q --help" ;;
        delete) opts="--index --ids-from --help" ;;
        stats|check) opts="--index --json --help" ;;
        analyze) opts="--lang --index --help" ;;
        run) opts="--queries --index --mode -k --output -o --latency --tag --k1 --b --cold --sort
            --since --until --date-field --synonyms --help" ;;
        shards) opts="create --help" ;;
        extract) opts="--json --help" ;;
        serve) opts="--index --listen --threads --timeout --max-work --access-log --synonyms --remote --help" ;;
        help)
            COMPREPLY=($(compgen -W "$commands" -- "$cur"))
            return ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    elif [[ $cmd == index || $cmd == add || $cmd == extract ]]; then
        COMPREPLY=($(compgen -f -- "$cur"))
        compopt -o filenames 2>/dev/null
    fi
}
complete -F _kzsearch kzsearch
