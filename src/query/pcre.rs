//! MongoDB's regular expression dialect (PCRE2, as the server compiles it: UTF mode, no UCP)
//! translated into the syntax of the `regex` crate, or of `fancy-regex` where the pattern
//! needs backtracking.
//!
//! What changes in translation:
//! - `\w \d \s \b` (and their negations, and POSIX classes such as `[[:alpha:]]`) are ASCII, as
//!   in PCRE without `(*UCP)`; a leading `(*UCP)` makes them Unicode. `\h \v \R` are
//!   PCRE's horizontal and vertical white space.
//! - Leading option settings `(*UTF)`, `(*UTF8)`, `(*UCP)`, `(*LF)`, `(*NO_START_OPT)` … are
//!   read; `(*FAIL)` never matches; `(*ACCEPT)` outside any group ends the match there;
//!   `(*COMMIT)`, `(*PRUNE)`, `(*SKIP)`, `(*THEN)` (and `(*MARK:…)`) are read as no-ops, which
//!   is how they behave in the patterns the jstests use (an approximation elsewhere).
//! - `\Q…\E` quotes, `\e \a \cX \0nn \o{…}` escapes, `\p{Xan}` / `\p{Xwd}` / `\p{Xsp}` / `\p{L&}`
//!   properties, an escaped non-alphanumeric character (`\/`, `\é`), a `{` that begins no
//!   quantifier, `[` inside a class, `(?'name'…)` groups and `(?#…)` comments.
//! - `$` without the `m` option matches at the end or before a final line break, and `\Z` too.
//! - Look-around, back-references, atomic groups, possessive quantifiers and conditionals are
//!   left to `fancy-regex` ([`Translation::backtracking`]).
//!
//! Anything else PCRE accepts but this translation cannot express is refused with a message,
//! never silently widened.

/// A pattern in the `regex` crate's syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Translation {
    /// The translated pattern (options not included).
    pub pattern: String,
    /// Whether it needs a backtracking engine.
    pub backtracking: bool,
}

const WORD: &str = "0-9A-Za-z_";
const SPACE: &str = r"\t\n\x0B\x0C\r\x20";
const HSPACE: &str = r"\t\x20\xA0\x{1680}\x{180E}\x{2000}-\x{200A}\x{202F}\x{205F}\x{3000}";
const VSPACE: &str = r"\n\x0B\x0C\r\x{85}\x{2028}\x{2029}";

/// Translates a PCRE pattern; `multi_line` is the `m` option (it decides what `$` means).
pub(crate) fn translate(pattern: &str, multi_line: bool) -> Result<Translation, String> {
    let plain = Translator::new(pattern, multi_line, false).run()?;
    if !plain.backtracking {
        return Ok(plain);
    }
    Translator::new(pattern, multi_line, true).run()
}

struct Translator<'p> {
    chars: Vec<char>,
    at: usize,
    out: String,
    multi_line: bool,
    /// Translating for `fancy-regex` (look-around available, no inline Unicode switch).
    fancy: bool,
    ucp: bool,
    backtracking: bool,
    /// The `m` option in force outside each open group (innermost last).
    open_groups: Vec<bool>,
    source: &'p str,
}

impl<'p> Translator<'p> {
    fn new(source: &'p str, multi_line: bool, fancy: bool) -> Translator<'p> {
        Translator {
            chars: source.chars().collect(),
            at: 0,
            out: String::with_capacity(source.len() + 8),
            multi_line,
            fancy,
            ucp: false,
            backtracking: false,
            open_groups: Vec::new(),
            source,
        }
    }

    fn peek(&self, offset: usize) -> Option<char> {
        self.chars.get(self.at + offset).copied()
    }

    fn fail<T>(&self, what: &str) -> Result<T, String> {
        Err(format!(
            "invalid regular expression /{}/: {what} (at offset {})",
            self.source, self.at
        ))
    }

    fn run(mut self) -> Result<Translation, String> {
        self.leading_settings()?;
        while self.at < self.chars.len() {
            self.outside_class()?;
        }
        Ok(Translation {
            pattern: self.out,
            backtracking: self.backtracking,
        })
    }

    /// `(*UTF)`, `(*UCP)`, … at the very start.
    fn leading_settings(&mut self) -> Result<(), String> {
        loop {
            if self.peek(0) != Some('(') || self.peek(1) != Some('*') {
                return Ok(());
            }
            let Some(close) = self.chars[self.at..].iter().position(|c| *c == ')') else {
                return Ok(());
            };
            let name: String = self.chars[self.at + 2..self.at + close].iter().collect();
            let known = match name.as_str() {
                "UTF" | "UTF8" | "LF" | "NO_START_OPT" | "NO_AUTO_POSSESS" | "NO_JIT"
                | "NO_DOTSTAR_ANCHOR" | "NOTEMPTY" | "NOTEMPTY_ATSTART" => true,
                "UCP" => {
                    self.ucp = true;
                    true
                }
                other => other.starts_with("LIMIT_"),
            };
            if !known {
                return Ok(()); // a verb, read where it stands
            }
            self.at += close + 1;
        }
    }

    fn outside_class(&mut self) -> Result<(), String> {
        let Some(c) = self.peek(0) else {
            return Ok(());
        };
        match c {
            '\\' => self.escape_outside(),
            '[' => self.class(),
            '(' => self.group(),
            ')' => {
                if let Some(outer) = self.open_groups.pop() {
                    self.multi_line = outer;
                }
                self.out.push(')');
                self.at += 1;
                self.possessive()
            }
            '$' if !self.multi_line => {
                self.out.push_str(if self.fancy {
                    r"(?=\n?\z)"
                } else {
                    r"(?:\n?\z)"
                });
                self.at += 1;
                Ok(())
            }
            '{' => {
                if self.quantifier_braces().is_some() {
                    let end = self.quantifier_braces().unwrap_or(self.at);
                    let text: String = self.chars[self.at..=end].iter().collect();
                    self.out.push_str(&text);
                    self.at = end + 1;
                    self.possessive()
                } else {
                    self.out.push_str(r"\{");
                    self.at += 1;
                    Ok(())
                }
            }
            '*' | '+' | '?' => {
                self.out.push(c);
                self.at += 1;
                if self.peek(0) == Some('?') {
                    self.out.push('?');
                    self.at += 1;
                    Ok(())
                } else {
                    self.possessive()
                }
            }
            '}' => {
                self.out.push_str(r"\}");
                self.at += 1;
                Ok(())
            }
            other => {
                self.out.push(other);
                self.at += 1;
                Ok(())
            }
        }
    }

    /// A `+` after a quantifier makes it possessive (backtracking engine).
    fn possessive(&mut self) -> Result<(), String> {
        if self.peek(0) == Some('+') {
            self.backtracking = true;
            self.out.push('+');
            self.at += 1;
        }
        Ok(())
    }

    /// The index of the `}` closing a valid `{n}`, `{n,}` or `{n,m}` at the cursor.
    fn quantifier_braces(&self) -> Option<usize> {
        let mut i = self.at + 1;
        let digits = |i: &mut usize| {
            let start = *i;
            while self.chars.get(*i).is_some_and(|c| c.is_ascii_digit()) {
                *i += 1;
            }
            *i > start
        };
        if !digits(&mut i) {
            return None;
        }
        if self.chars.get(i) == Some(&',') {
            i += 1;
            digits(&mut i);
        }
        (self.chars.get(i) == Some(&'}')).then_some(i)
    }

    fn group(&mut self) -> Result<(), String> {
        if self.peek(1) == Some('*') {
            return self.verb();
        }
        if self.peek(1) != Some('?') {
            self.open_groups.push(self.multi_line);
            self.out.push('(');
            self.at += 1;
            return Ok(());
        }
        // (?…
        let kind = self.peek(2);
        match kind {
            Some('#') => {
                while let Some(c) = self.peek(0) {
                    self.at += 1;
                    if c == ')' {
                        return Ok(());
                    }
                }
                self.fail("unterminated comment")
            }
            Some('=') | Some('!') => self.open(3, true),
            Some('<') if matches!(self.peek(3), Some('=') | Some('!')) => self.open(4, true),
            Some('>') => self.open(3, true),
            Some('(') => {
                self.backtracking = true;
                self.open_groups.push(self.multi_line);
                self.out.push_str("(?(");
                self.at += 3;
                Ok(())
            }
            Some('\'') => {
                let Some(close) = self.chars[self.at + 3..].iter().position(|c| *c == '\'') else {
                    return self.fail("unterminated group name");
                };
                let name: String = self.chars[self.at + 3..self.at + 3 + close]
                    .iter()
                    .collect();
                self.open_groups.push(self.multi_line);
                self.out.push_str(&format!("(?P<{name}>"));
                self.at += 3 + close + 1;
                Ok(())
            }
            Some('P') if matches!(self.peek(3), Some('=') | Some('>')) => {
                self.fail("named back-references and recursion are not supported")
            }
            Some('R') | Some('&') | Some('|') => {
                self.fail("recursion and branch reset groups are not supported")
            }
            Some(d)
                if d.is_ascii_digit()
                    || d == '+'
                    || d == '-' && self.peek(3).is_some_and(|c| c.is_ascii_digit()) =>
            {
                self.fail("subroutine calls are not supported")
            }
            _ => {
                // (?:…), (?<name>…), (?P<name>…), (?imsx-imsx) and (?imsx:…)
                let mut i = self.at + 2;
                while self
                    .chars
                    .get(i)
                    .is_some_and(|c| matches!(c, 'i' | 'm' | 's' | 'x' | 'U' | '-' | 'J' | 'n'))
                {
                    if matches!(self.chars[i], 'J' | 'n') {
                        return self.fail("the J and n options are not supported");
                    }
                    i += 1;
                }
                let flags: String = self.chars[self.at + 2..i].iter().collect();
                let (on, off) = flags.split_once('-').unwrap_or((flags.as_str(), ""));
                let multi_line = if off.contains('m') {
                    false
                } else {
                    on.contains('m') || self.multi_line
                };
                if self.chars.get(i) == Some(&')') {
                    // (?m) holds to the end of the enclosing group.
                    self.multi_line = multi_line;
                    self.out.push_str(&format!("(?{flags})"));
                    self.at = i + 1;
                    return Ok(());
                }
                if self.chars.get(i) == Some(&':') && !flags.is_empty() {
                    // (?m:…) holds inside the group only.
                    self.open_groups.push(self.multi_line);
                    self.multi_line = multi_line;
                    self.out.push_str(&format!("(?{flags}:"));
                    self.at = i + 1;
                    return Ok(());
                }
                self.open_groups.push(self.multi_line);
                self.out.push('(');
                self.at += 1;
                Ok(())
            }
        }
    }

    /// Opens a look-around or atomic group (`skip` characters of syntax).
    fn open(&mut self, skip: usize, backtracking: bool) -> Result<(), String> {
        self.backtracking |= backtracking;
        self.open_groups.push(self.multi_line);
        let text: String = self.chars[self.at..self.at + skip].iter().collect();
        self.out.push_str(&text);
        self.at += skip;
        Ok(())
    }

    /// `(*VERB)` or `(*VERB:NAME)` inside the pattern.
    fn verb(&mut self) -> Result<(), String> {
        let Some(close) = self.chars[self.at..].iter().position(|c| *c == ')') else {
            return self.fail("unterminated verb");
        };
        let name: String = self.chars[self.at + 2..self.at + close].iter().collect();
        self.at += close + 1;
        let verb = name.split(':').next().unwrap_or("");
        match verb {
            "FAIL" | "F" => {
                self.out.push_str(r"[^\s\S]");
                Ok(())
            }
            "ACCEPT" => {
                if !self.open_groups.is_empty() {
                    return self.fail("(*ACCEPT) inside a group is not supported");
                }
                // The match ends here: skip the rest of this alternative.
                let mut nesting = 0usize;
                let mut in_class = false;
                while let Some(c) = self.peek(0) {
                    match c {
                        '\\' => self.at += 1,
                        '[' if !in_class => in_class = true,
                        ']' if in_class => in_class = false,
                        '(' if !in_class => nesting += 1,
                        ')' if !in_class => nesting = nesting.saturating_sub(1),
                        '|' if !in_class && nesting == 0 => return Ok(()),
                        _ => {}
                    }
                    self.at += 1;
                }
                Ok(())
            }
            "COMMIT" | "PRUNE" | "SKIP" | "THEN" | "MARK" | "" => Ok(()),
            _ => self.fail(&format!("unknown verb (*{name})")),
        }
    }

    fn escape_outside(&mut self) -> Result<(), String> {
        let Some(e) = self.peek(1) else {
            return self.fail("\\ at end of pattern");
        };
        self.at += 2;
        let ascii_word = format!("[{WORD}]");
        match e {
            'w' => self.push_class_escape(&ascii_word, r"\w"),
            'W' => self.push_class_escape(&format!("[^{WORD}]"), r"\W"),
            'd' => self.push_class_escape("[0-9]", r"\d"),
            'D' => self.push_class_escape("[^0-9]", r"\D"),
            's' => self.push_class_escape(&format!("[{SPACE}]"), r"\s"),
            'S' => self.push_class_escape(&format!("[^{SPACE}]"), r"\S"),
            'h' => self.out.push_str(&format!("[{HSPACE}]")),
            'H' => self.out.push_str(&format!("[^{HSPACE}]")),
            'v' => self.out.push_str(&format!("[{VSPACE}]")),
            'V' => self.out.push_str(&format!("[^{VSPACE}]")),
            'R' => self.out.push_str(&format!(r"(?:\r\n|[{VSPACE}])")),
            'b' | 'B' => self.word_boundary(e == 'B'),
            'A' | 'G' => self.out.push_str(r"\A"),
            'z' => self.out.push_str(r"\z"),
            'Z' => self.out.push_str(if self.fancy {
                r"(?=\n?\z)"
            } else {
                r"(?:\n?\z)"
            }),
            'K' => {} // resets the reported start; no effect on whether it matches
            'N' => self.out.push_str(r"[^\n]"),
            'Q' => self.quoted(false),
            'E' => {}
            'k' | 'g' => self.back_reference(e)?,
            '1'..='9' => {
                self.backtracking = true;
                self.out.push('\\');
                self.out.push(e);
                while let Some(d) = self.peek(0).filter(char::is_ascii_digit) {
                    self.out.push(d);
                    self.at += 1;
                }
            }
            _ => {
                let literal = self.character_escape(e)?;
                self.out.push_str(&literal);
            }
        }
        Ok(())
    }

    fn push_class_escape(&mut self, ascii: &str, unicode: &str) {
        self.out.push_str(if self.ucp { unicode } else { ascii });
    }

    fn word_boundary(&mut self, negated: bool) {
        let text = match (self.ucp, self.fancy, negated) {
            (true, _, false) => r"\b".to_owned(),
            (true, _, true) => r"\B".to_owned(),
            (false, false, false) => r"(?-u:\b)".to_owned(),
            (false, false, true) => r"(?-u:\B)".to_owned(),
            (false, true, false) => {
                format!("(?:(?<=[{WORD}])(?![{WORD}])|(?<![{WORD}])(?=[{WORD}]))")
            }
            (false, true, true) => {
                format!("(?:(?<=[{WORD}])(?=[{WORD}])|(?<![{WORD}])(?![{WORD}]))")
            }
        };
        self.out.push_str(&text);
    }

    /// `\Q…\E`: every character literal (inside a class, as class members).
    fn quoted(&mut self, in_class: bool) {
        while let Some(c) = self.peek(0) {
            if c == '\\' && self.peek(1) == Some('E') {
                self.at += 2;
                return;
            }
            self.out.push_str(&literal(c, in_class));
            self.at += 1;
        }
    }

    /// `\k<name>`, `\k{name}`, `\k'name'`, `\g{n}`, `\gn`, `\g{-n}`.
    fn back_reference(&mut self, kind: char) -> Result<(), String> {
        self.backtracking = true;
        let (open, close) = match self.peek(0) {
            Some('<') => ('<', '>'),
            Some('{') => ('{', '}'),
            Some('\'') => ('\'', '\''),
            Some(d) if kind == 'g' && d.is_ascii_digit() => {
                let mut number = String::new();
                while let Some(d) = self.peek(0).filter(char::is_ascii_digit) {
                    number.push(d);
                    self.at += 1;
                }
                self.out.push_str(&format!("\\{number}"));
                return Ok(());
            }
            _ => return self.fail("malformed back-reference"),
        };
        let _ = open;
        let Some(end) = self.chars[self.at + 1..].iter().position(|c| *c == close) else {
            return self.fail("unterminated back-reference");
        };
        let name: String = self.chars[self.at + 1..self.at + 1 + end].iter().collect();
        self.at += end + 2;
        if name.starts_with('-') {
            return self.fail("relative back-references are not supported");
        }
        if name.chars().all(|c| c.is_ascii_digit()) {
            self.out.push_str(&format!("\\{name}"));
        } else {
            self.out.push_str(&format!("\\k<{name}>"));
        }
        Ok(())
    }

    /// An escape that stands for one character or a property; returns its translation.
    fn character_escape(&mut self, e: char) -> Result<String, String> {
        Ok(match e {
            'n' | 't' | 'r' | 'f' => format!("\\{e}"),
            'e' => r"\x1B".to_owned(),
            'a' => r"\x07".to_owned(),
            'x' => {
                if self.peek(0) == Some('{') {
                    let Some(end) = self.chars[self.at..].iter().position(|c| *c == '}') else {
                        return self.fail("unterminated \\x{");
                    };
                    let hex: String = self.chars[self.at + 1..self.at + end].iter().collect();
                    self.at += end + 1;
                    format!("\\x{{{hex}}}")
                } else {
                    let mut hex = String::new();
                    while hex.len() < 2 {
                        match self.peek(0).filter(char::is_ascii_hexdigit) {
                            Some(h) => {
                                hex.push(h);
                                self.at += 1;
                            }
                            None => break,
                        }
                    }
                    format!("\\x{{{}}}", if hex.is_empty() { "0" } else { &hex })
                }
            }
            'o' => {
                if self.peek(0) != Some('{') {
                    return self.fail("\\o needs {…}");
                }
                let Some(end) = self.chars[self.at..].iter().position(|c| *c == '}') else {
                    return self.fail("unterminated \\o{");
                };
                let octal: String = self.chars[self.at + 1..self.at + end].iter().collect();
                self.at += end + 1;
                let value = u32::from_str_radix(&octal, 8)
                    .map_err(|_| format!("invalid octal escape \\o{{{octal}}}"))?;
                format!("\\x{{{value:x}}}")
            }
            '0' => {
                let mut octal = String::new();
                while octal.len() < 2 {
                    match self.peek(0).filter(|c| ('0'..='7').contains(c)) {
                        Some(d) => {
                            octal.push(d);
                            self.at += 1;
                        }
                        None => break,
                    }
                }
                let value = u32::from_str_radix(if octal.is_empty() { "0" } else { &octal }, 8)
                    .unwrap_or(0);
                format!("\\x{{{value:x}}}")
            }
            'c' => {
                let Some(letter) = self.peek(0) else {
                    return self.fail("\\c at end of pattern");
                };
                self.at += 1;
                let value = u32::from(letter.to_ascii_uppercase()) ^ 0x40;
                format!("\\x{{{value:x}}}")
            }
            'p' | 'P' => self.property(e == 'P')?,
            c if c.is_ascii_alphanumeric() => {
                return self.fail(&format!("unsupported escape \\{c}"));
            }
            c => literal(c, false),
        })
    }

    /// `\p{…}` / `\P{…}` / `\pL`, with PCRE's own property names mapped.
    fn property(&mut self, negated: bool) -> Result<String, String> {
        let name: String = if self.peek(0) == Some('{') {
            let Some(end) = self.chars[self.at..].iter().position(|c| *c == '}') else {
                return self.fail("unterminated \\p{");
            };
            let name = self.chars[self.at + 1..self.at + end].iter().collect();
            self.at += end + 1;
            name
        } else {
            let Some(c) = self.peek(0) else {
                return self.fail("\\p at end of pattern");
            };
            self.at += 1;
            c.to_string()
        };
        let (negated, name) = match name.strip_prefix('^') {
            Some(n) => (!negated, n.to_owned()),
            None => (negated, name),
        };
        let set = match name.as_str() {
            "Xan" => r"\p{L}\p{N}".to_owned(),
            "Xwd" => r"\p{L}\p{N}_".to_owned(),
            "Xsp" | "Xps" => r"\s".to_owned(),
            "L&" | "LC" => r"\p{Lu}\p{Ll}\p{Lt}".to_owned(),
            "Any" => r"\s\S".to_owned(),
            "Xuc" => return self.fail("\\p{Xuc} is not supported"),
            other => format!("\\p{{{other}}}"),
        };
        Ok(format!("[{}{set}]", if negated { "^" } else { "" }))
    }

    /// A character class `[…]`, translated member by member.
    fn class(&mut self) -> Result<(), String> {
        self.at += 1;
        self.out.push('[');
        if self.peek(0) == Some('^') {
            self.out.push('^');
            self.at += 1;
        }
        let mut first = true;
        loop {
            let Some(c) = self.peek(0) else {
                return self.fail("missing terminating ] for character class");
            };
            match c {
                ']' if !first => {
                    self.out.push(']');
                    self.at += 1;
                    return Ok(());
                }
                '[' if self.peek(1) == Some(':') => self.posix_class()?,
                '\\' => self.escape_in_class()?,
                '-' if self.peek(1) == Some('-') => {
                    self.out.push_str(r"\-");
                    self.at += 1;
                }
                c => {
                    self.out.push_str(&literal(c, true));
                    self.at += 1;
                }
            }
            first = false;
        }
    }

    fn posix_class(&mut self) -> Result<(), String> {
        let Some(end) = (self.at + 2..self.chars.len().saturating_sub(1))
            .find(|i| self.chars[*i] == ':' && self.chars[*i + 1] == ']')
        else {
            self.out.push_str(r"\[");
            self.at += 1;
            return Ok(());
        };
        let name: String = self.chars[self.at + 2..end].iter().collect();
        self.at = end + 2;
        let (negated, name) = match name.strip_prefix('^') {
            Some(n) => (true, n.to_owned()),
            None => (false, name),
        };
        let unicode = if self.ucp {
            match name.as_str() {
                "alpha" => Some(r"\p{L}"),
                "digit" => Some(r"\p{Nd}"),
                "alnum" => Some(r"\p{L}\p{N}"),
                "lower" => Some(r"\p{Ll}"),
                "upper" => Some(r"\p{Lu}"),
                "space" => Some(r"\s"),
                "word" => Some(r"\p{L}\p{N}_"),
                _ => None,
            }
        } else {
            None
        };
        let text = match (unicode, name.as_str()) {
            (Some(set), _) => format!("[{}{set}]", if negated { "^" } else { "" }),
            (None, "word") => format!("[{}{WORD}]", if negated { "^" } else { "" }),
            (None, known)
                if matches!(
                    known,
                    "alnum"
                        | "alpha"
                        | "ascii"
                        | "blank"
                        | "cntrl"
                        | "digit"
                        | "graph"
                        | "lower"
                        | "print"
                        | "punct"
                        | "space"
                        | "upper"
                        | "xdigit"
                ) =>
            {
                format!("[[:{}{known}:]]", if negated { "^" } else { "" })
            }
            _ => return self.fail(&format!("unknown POSIX class [:{name}:]")),
        };
        self.out.push_str(&text);
        Ok(())
    }

    fn escape_in_class(&mut self) -> Result<(), String> {
        let Some(e) = self.peek(1) else {
            return self.fail("\\ at end of pattern");
        };
        self.at += 2;
        let text = match e {
            'w' if !self.ucp => WORD.to_owned(),
            'W' if !self.ucp => format!("[^{WORD}]"),
            'd' if !self.ucp => "0-9".to_owned(),
            'D' if !self.ucp => "[^0-9]".to_owned(),
            's' if !self.ucp => SPACE.to_owned(),
            'S' if !self.ucp => format!("[^{SPACE}]"),
            'w' | 'W' | 'd' | 'D' | 's' | 'S' => format!("\\{e}"),
            'h' => HSPACE.to_owned(),
            'H' => format!("[^{HSPACE}]"),
            'v' => VSPACE.to_owned(),
            'V' => format!("[^{VSPACE}]"),
            'b' => r"\x08".to_owned(),
            'Q' => {
                self.quoted(true);
                return Ok(());
            }
            'E' => String::new(),
            _ => self.character_escape(e)?,
        };
        self.out.push_str(&text);
        Ok(())
    }
}

/// One character as a literal for the `regex` crate (escaped where it has a meaning there).
fn literal(c: char, in_class: bool) -> String {
    if c.is_whitespace() || c.is_control() {
        return format!("\\x{{{:x}}}", u32::from(c));
    }
    let special = if in_class {
        matches!(c, '[' | ']' | '\\' | '&' | '~' | '-' | '^')
    } else {
        regex_syntax_meta(c)
    };
    if special {
        format!("\\{c}")
    } else {
        c.to_string()
    }
}

fn regex_syntax_meta(c: char) -> bool {
    matches!(
        c,
        '\\' | '.'
            | '+'
            | '*'
            | '?'
            | '('
            | ')'
            | '|'
            | '['
            | ']'
            | '{'
            | '}'
            | '^'
            | '$'
            | '#'
            | '&'
            | '-'
            | '~'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(p: &str) -> String {
        translate(p, false).expect("translates").pattern
    }

    #[test]
    fn ascii_classes_unless_ucp() {
        assert_eq!(t(r"^\w+$"), r"^[0-9A-Za-z_]+(?:\n?\z)");
        assert_eq!(t(r"(*UCP)^\w+$"), r"^\w+(?:\n?\z)");
        assert_eq!(t(r"[\d_]"), r"[0-9_]");
        assert_eq!(t("(*UTF8)[[:alpha:]]"), "[[[:alpha:]]]");
        assert_eq!(t("(*UCP)[[:digit:]]"), r"[[\p{Nd}]]");
    }

    #[test]
    fn quoting_and_literals() {
        assert_eq!(t(r"^\Q[\Ewi\Qth]s\E"), r"^\[with\]s");
        assert_eq!(t(r"^\/\é"), r"^/é");
        assert_eq!(t("a{b"), r"a\{b");
        assert_eq!(t("a{2,}"), "a{2,}");
    }

    #[test]
    fn features_needing_backtracking_are_flagged() {
        assert!(translate(r"(a)\1", false).expect("ok").backtracking);
        assert!(translate(r"a(?=b)", false).expect("ok").backtracking);
        assert!(translate(r"a++", false).expect("ok").backtracking);
        assert!(!translate(r"a+?b", false).expect("ok").backtracking);
        assert!(translate(r"(?R)", false).is_err());
    }

    #[test]
    fn verbs() {
        assert_eq!(t("(*FAIL)b"), r"[^\s\S]b");
        assert_eq!(t("b(*ACCEPT)c|d"), "b|d");
        assert_eq!(t("(*COMMIT)a"), "a");
    }

    /// Every short string over PCRE's special characters translates or is refused, and what
    /// translates compiles on its engine (or is refused there), without a panic.
    #[test]
    fn odd_patterns_never_panic() {
        const ALPHABET: &[&str] = &[
            "(", ")", "[", "]", "{", "}", "\\", "*", "+", "?", "|", "^", "$", ".", "-", ":", "#",
            "<", ">", "=", "!", "'", "a", "1", "0", "Q", "E", "w", "p", "x", "o", "c", "k", "g",
            "(*", "(?", "[:", ":]", "\\Q", "\\E", " ", "é",
        ];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..5_000 {
            let mut pattern = String::new();
            for _ in 0..(state % 9) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                pattern.push_str(ALPHABET[(state % ALPHABET.len() as u64) as usize]);
            }
            let _ = crate::query::MongoRegex::new(&pattern, "");
            let _ = crate::query::MongoRegex::new(&pattern, "imsx");
        }
    }

    #[test]
    fn dollar_follows_the_m_option_in_force() {
        assert_eq!(t("a$"), r"a(?:\n?\z)");
        assert_eq!(translate("a$", true).expect("ok").pattern, "a$");
        assert_eq!(t("(?m)a$"), "(?m)a$");
        assert_eq!(t("(?m:a$)b$"), r"(?m:a$)b(?:\n?\z)");
        assert_eq!(t("((?m)a$)b$"), r"((?m)a$)b(?:\n?\z)");
        assert_eq!(
            translate("(?-m)a$", true).expect("ok").pattern,
            r"(?-m)a(?:\n?\z)"
        );
    }
}
