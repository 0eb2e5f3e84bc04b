//! Shell-style globs over names: `*` matches any run of characters, `?` any one character.
//! Used for resource names in access rules and alerts, and event kinds in webhooks.

/// Whether `pattern` matches all of `text`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative matching with one backtrack point (the last `*`): linear in practice, and no
    // recursion that a long pattern could blow up.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Whether `pattern` has wildcards, i.e. is a glob rather than a plain name.
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_names() {
        for (p, t) in [
            ("*", ""),
            ("*", "prod-pg"),
            ("prod-*", "prod-pg"),
            ("request.*", "request.created"),
            ("*.created", "grant.created"),
            ("p?od-pg", "prod-pg"),
            ("a*b*c", "axxbyyc"),
            ("prod-pg", "prod-pg"),
        ] {
            assert!(glob_match(p, t), "{p} should match {t}");
        }
        for (p, t) in [
            ("prod-*", "staging-pg"),
            ("request.*", "grant.created"),
            ("prod", "prod-pg"),
            ("?", ""),
            ("a*b", "axxbc"),
        ] {
            assert!(!glob_match(p, t), "{p} should not match {t}");
        }
        assert!(is_glob("prod-*") && is_glob("a?") && !is_glob("prod-pg"));
    }
}
