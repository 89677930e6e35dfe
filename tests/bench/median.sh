# Sourced by the benchmarks. median FILE: the median of each key's values
# ("key<TAB>value" lines), in the order keys first appear.
median() {
    awk -F'\t' '{ if (!($1 in n)) order[++k] = $1; v[$1, ++n[$1]] = $2 }
        END { for (i = 1; i <= k; i++) { key = order[i]; m = n[key]
                for (a = 1; a <= m; a++) s[a] = v[key, a] + 0
                for (a = 1; a <= m; a++) for (b = a + 1; b <= m; b++) if (s[b] < s[a]) { t = s[a]; s[a] = s[b]; s[b] = t }
                printf "%s\t%.4g\n", key, (m % 2) ? s[(m + 1) / 2] : (s[m / 2] + s[m / 2 + 1]) / 2 } }' "$1"
}
