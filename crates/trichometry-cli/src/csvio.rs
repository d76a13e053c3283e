//! A small RFC 4180 reader and writer (quoted fields, doubled quotes, CRLF or
//! LF), enough for manifests and result tables without another dependency.

/// Parse CSV text into rows of fields. Errors on an unterminated quote.
pub fn parse(text: &str) -> Result<Vec<Vec<String>>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut in_quotes = false;
    let mut line = 1;
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => in_quotes = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
                line += 1;
                any = false;
            }
            _ => field.push(c),
        }
    }
    if in_quotes {
        return Err(format!("unterminated quoted field (line {line})"));
    }
    if any {
        row.push(field);
        rows.push(row);
    }
    // Blank lines carry no row.
    rows.retain(|r| !(r.len() == 1 && r[0].trim().is_empty()));
    Ok(rows)
}

/// Quote a field when it needs it.
pub fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) || field.starts_with(' ') || field.ends_with(' ') {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// One CSV line (with `\n`).
pub fn line<S: AsRef<str>>(fields: &[S]) -> String {
    let mut s = fields
        .iter()
        .map(|f| quote(f.as_ref()))
        .collect::<Vec<_>>()
        .join(",");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_quotes_commas_and_newlines() {
        let rows = vec![
            vec!["path".to_string(), "chart_corners".into(), "note".into()],
            vec![
                "a b.jpg".into(),
                "1,2,3,4,5,6,7,8".into(),
                "say \"hi\"\nthere".into(),
            ],
            vec!["c.jpg".into(), String::new(), " x ".into()],
        ];
        let text: String = rows.iter().map(|r| line(r)).collect();
        assert_eq!(parse(&text).unwrap(), rows);
        assert_eq!(parse(&text.replace('\n', "\r\n")).unwrap().len(), 3);
    }

    #[test]
    fn blank_lines_bom_and_missing_final_newline() {
        let rows = parse("\u{feff}path,um_per_px\n\nx.jpg,3.5").unwrap();
        assert_eq!(rows, vec![vec!["path", "um_per_px"], vec!["x.jpg", "3.5"]]);
        assert!(parse("a,\"b\n").is_err());
    }
}
