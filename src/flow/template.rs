//! Prompt and URL templates: `Your balance is {acct.balance} dollars.`

use crate::flow::model::{Reading, Segment, Template};

/// Why a template does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{` without its `}`.
    #[error("`{{` at character {0} is never closed")]
    Unclosed(usize),
    /// `}` without its `{`.
    #[error("`}}` at character {0} has no opening `{{` (write `}}}}` for a literal brace)")]
    StrayClose(usize),
    /// A placeholder that is not `name`, `name.field` or `name|FORM` (digits, number, amount).
    #[error(
        "`{{{0}}}` is not a placeholder (use `{{name}}`, `{{name.field}}`, `{{name|digits}}`, `{{name|number}}` or `{{name|amount}}`)"
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
                let (path, reading) = match inner.trim().split_once('|') {
                    Some((p, f)) => {
                        let reading = match f.trim() {
                            "digits" => Reading::Digits,
                            "number" => Reading::Number,
                            "amount" => Reading::Amount,
                            _ => return Err(TemplateError::BadPlaceholder(inner)),
                        };
                        (p.trim().to_owned(), reading)
                    }
                    None => (inner.trim().to_owned(), Reading::Plain),
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
                segments.push(Segment::Var { path, reading });
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
        let forms = parse_template("{n|number} {a | amount}").unwrap();
        assert_eq!(forms.source(), "{n|number} {a|amount}");
        assert_eq!(
            t.segments,
            vec![
                Segment::Text("موجودی شما ".into()),
                Segment::Var {
                    path: "acct.balance".into(),
                    reading: Reading::Plain
                },
                Segment::Text(" دلار است. {x} ".into()),
                Segment::Var {
                    path: "account".into(),
                    reading: Reading::Digits
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
