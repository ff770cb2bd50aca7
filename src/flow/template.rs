//! Prompt and URL templates: `Your balance is {acct.balance} dollars.`

use crate::flow::model::{Segment, Template};

/// Why a template does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{` without its `}`.
    #[error("`{{` at character {0} is never closed")]
    Unclosed(usize),
    /// `}` without its `{`.
    #[error("`}}` at character {0} has no opening `{{` (write `}}}}` for a literal brace)")]
    StrayClose(usize),
    /// A placeholder that is not `name`, `name.field` or `name|digits`.
    #[error(
        "`{{{0}}}` is not a placeholder (use `{{name}}`, `{{name.field}}` or `{{name|digits}}`)"
    )]
    BadPlaceholder(String),
}

/// Parses a template; `{{` and `}}` are literal braces.
pub fn parse_template(text: &str) -> Result<Template, TemplateError> {
    let mut segments = Vec::new();
    let mut literal = String::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|&(_, n)| n) == Some('{') => {
                chars.next();
                literal.push('{');
            }
            '}' if chars.peek().map(|&(_, n)| n) == Some('}') => {
                chars.next();
                literal.push('}');
            }
            '}' => return Err(TemplateError::StrayClose(text[..i].chars().count())),
            '{' => {
                let mut inner = String::new();
                let mut closed = false;
                for (_, c) in chars.by_ref() {
                    if c == '}' {
                        closed = true;
                        break;
                    }
                    inner.push(c);
                }
                if !closed {
                    return Err(TemplateError::Unclosed(text[..i].chars().count()));
                }
                let (path, digits) = match inner.trim().split_once('|') {
                    Some((p, f)) if f.trim() == "digits" => (p.trim().to_owned(), true),
                    Some(_) => return Err(TemplateError::BadPlaceholder(inner)),
                    None => (inner.trim().to_owned(), false),
                };
                let valid = !path.is_empty()
                    && path.split('.').all(|part| {
                        !part.is_empty()
                            && part
                                .chars()
                                .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
                    });
                if !valid {
                    return Err(TemplateError::BadPlaceholder(inner));
                }
                if !literal.is_empty() {
                    segments.push(Segment::Text(std::mem::take(&mut literal)));
                }
                segments.push(Segment::Var { path, digits });
            }
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        segments.push(Segment::Text(literal));
    }
    Ok(Template { segments })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_placeholders_and_keeps_unicode() {
        let t =
            parse_template("موجودی شما {acct.balance} دلار است. {{x}} {account|digits}").unwrap();
        assert_eq!(
            t.segments,
            vec![
                Segment::Text("موجودی شما ".into()),
                Segment::Var {
                    path: "acct.balance".into(),
                    digits: false
                },
                Segment::Text(" دلار است. {x} ".into()),
                Segment::Var {
                    path: "account".into(),
                    digits: true
                },
            ]
        );
        assert_eq!(
            t.source(),
            "موجودی شما {acct.balance} دلار است. {{x}} {account|digits}"
        );
    }

    #[test]
    fn rejects_broken_placeholders() {
        assert_eq!(parse_template("a {b"), Err(TemplateError::Unclosed(2)));
        assert_eq!(parse_template("a } b"), Err(TemplateError::StrayClose(2)));
        assert!(matches!(
            parse_template("{a b}"),
            Err(TemplateError::BadPlaceholder(_))
        ));
        assert!(matches!(
            parse_template("{a|upper}"),
            Err(TemplateError::BadPlaceholder(_))
        ));
        assert!(matches!(
            parse_template("{}"),
            Err(TemplateError::BadPlaceholder(_))
        ));
    }
}
