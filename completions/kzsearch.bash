# bash completion for kzsearch: commands, each command's options, files or
# folders where an option or argument takes one, and the field names of the
# index (kzsearch stats --fields) for --facet, --date-field, --sort and the
# field: of a query word.
# Installed as PREFIX/share/bash-completion/completions/kzsearch.

# The names of the fields of the index the command line names with --index
# (or of the default index) whose values hold KIND (date, number, keyword,
# text; any when none is given); nothing when there is no index.
_kzsearch_fields()
{
    local kind=$1
    local i dir=""
    for ((i = 1; i < ${#words[@]} - 1; i++)); do
        [[ ${words[i]} == --index ]] && dir=${words[i+1]}
    done
    dir=${dir/#\~/$HOME}
    local name kinds
    "${words[0]/#\~/$HOME}" ${dir:+--index "$dir"} stats --fields 2>/dev/null |
        while IFS=$'\t' read -r name kinds; do
            [[ -z $kind || ,$kinds, == *,$kind,* ]] && printf '%s\n' "$name"
        done
}

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
            local f fields=""
            for f in $(_kzsearch_fields date; _kzsearch_fields number); do
                [[ $f == date || " $fields " == *" $f "* ]] || fields+=" $f -$f"
            done
            COMPREPLY=($(compgen -W "score date -date $fields" -- "$cur"))
            return ;;
        --facet)
            COMPREPLY=($(compgen -W "$(_kzsearch_fields)" -- "$cur"))
            return ;;
        --date-field)
            COMPREPLY=($(compgen -W "$(_kzsearch_fields date)" -- "$cur"))
            return ;;
        --lang)
            COMPREPLY=($(compgen -W "arabic armenian basque catalan danish dutch english finnish
                french german greek hindi hungarian indonesian irish italian lithuanian nepali
                norwegian portuguese romanian russian serbian spanish swedish tamil turkish yiddish" -- "$cur"))
            return ;;
        --limit|-n|-k|--offset|--memory|--threads|--max-doc|--store-level|--k1|--b|--snippet-chars|\
        --fragments|--timeout|--since|--until|--tag)
            return ;;
    esac

    local opts
    case $cmd in
        "")
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "$global $search_opts" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "$commands" -- "$cur"))
                _kzsearch_field_words
            fi
            return ;;
        search) opts=$search_opts ;;
        index) opts="$build_opts --replace" ;;
        add) opts="$build_opts --no-merge" ;;
        update|optimize) opts="--index --memory --threads --quiet -q --help" ;;
        delete) opts="--index --ids-from --help" ;;
        stats) opts="--index --json --fields --help" ;;
        check) opts="--index --json --help" ;;
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
    elif [[ $cmd == search ]]; then
        _kzsearch_field_words
    elif [[ $cmd == index || $cmd == add || $cmd == extract ]]; then
        COMPREPLY=($(compgen -f -- "$cur"))
        compopt -o filenames 2>/dev/null
    fi
}
# A query word that begins a field's name becomes "name:" (no space after
# it, when every completion is one).
_kzsearch_field_words()
{
    [[ -n $cur && $cur != *:* && $prev != : ]] || return
    local f any=""
    for f in $(_kzsearch_fields); do
        if [[ $f == "$cur"* ]]; then
            COMPREPLY+=("$f:")
            any=1
        fi
    done
    if [[ -n $any && ${#COMPREPLY[@]} -gt 0 ]]; then
        local c
        for c in "${COMPREPLY[@]}"; do [[ $c == *: ]] || return; done
        compopt -o nospace 2>/dev/null
    fi
}

complete -F _kzsearch kzsearch
