//! The record of processing as Markdown.

use super::layout::Block;

/// Text where Markdown would read markup into it: escapes the characters that start or end
/// emphasis, code, links, tables and HTML, and keeps a line break from ending a table row.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Renders the blocks (pure).
pub fn render(blocks: &[Block]) -> String {
    let mut out = String::new();
    for block in blocks {
        match block {
            Block::Heading(level, title) => {
                out.push_str(&"#".repeat(usize::from(*level)));
                out.push(' ');
                out.push_str(&text(title));
                out.push('\n');
            }
            Block::Para(p) => {
                out.push_str(&text(p));
                out.push('\n');
            }
            Block::Table(head, rows) => {
                out.push_str(&format!("| {} |\n", head.join(" | ")));
                out.push_str(&format!("|{}\n", " --- |".repeat(head.len())));
                for row in rows {
                    let cells: Vec<String> = row.iter().map(|c| text(c)).collect();
                    out.push_str(&format!("| {} |\n", cells.join(" | ")));
                }
            }
            Block::List(items) => {
                for item in items {
                    out.push_str(&format!("- {}\n", text(item)));
                }
            }
            Block::Quote(lines) => {
                for line in lines {
                    out.push_str(&format!("> {}\n", text(line)).replace("> \n", ">\n"));
                }
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_stored_text_is_shown_not_obeyed() {
        let page = render(&[
            Block::Para("a *b* [c](d) <e> | f".into()),
            Block::Table(vec!["x"], vec![vec!["1|2\n3".into()]]),
        ]);
        assert_eq!(
            page,
            "a \\*b\\* \\[c\\](d) \\<e\\> \\| f\n\n| x |\n| --- |\n| 1\\|2 3 |\n\n"
        );
    }
}
