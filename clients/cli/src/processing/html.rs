//! The record of processing as one self-contained HTML page: inline styles, no scripts, no
//! external requests (its Content-Security-Policy says so), every stored text escaped.

use super::layout::Block;

/// Escapes text for an HTML element or attribute.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;\
padding:0 1rem;line-height:1.45;color:#111}table{border-collapse:collapse;margin:.5rem 0 1rem}\
th,td{border:1px solid #bbb;padding:.3rem .5rem;text-align:left;vertical-align:top}\
th{background:#eee}blockquote{border-left:4px solid #bbb;margin:.5rem 0;padding:.2rem 1rem;\
white-space:pre-wrap}";

/// Renders the blocks (pure).
pub fn render(blocks: &[Block]) -> String {
    let title = blocks
        .iter()
        .find_map(|b| match b {
            Block::Heading(1, t) => Some(t.as_str()),
            _ => None,
        })
        .unwrap_or("Record of processing");
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        text(title)
    );
    for block in blocks {
        match block {
            Block::Heading(level, t) => {
                out.push_str(&format!("<h{level}>{}</h{level}>\n", text(t)));
            }
            Block::Para(p) => out.push_str(&format!("<p>{}</p>\n", text(p))),
            Block::Table(head, rows) => {
                out.push_str("<table>\n<tr>");
                for h in head {
                    out.push_str(&format!("<th>{}</th>", text(h)));
                }
                out.push_str("</tr>\n");
                for row in rows {
                    out.push_str("<tr>");
                    for c in row {
                        out.push_str(&format!("<td>{}</td>", text(c)));
                    }
                    out.push_str("</tr>\n");
                }
                out.push_str("</table>\n");
            }
            Block::List(items) => {
                out.push_str("<ul>\n");
                for item in items {
                    out.push_str(&format!("<li>{}</li>\n", text(item)));
                }
                out.push_str("</ul>\n");
            }
            Block::Quote(lines) => {
                out.push_str(&format!(
                    "<blockquote>{}</blockquote>\n",
                    text(&lines.join("\n"))
                ));
            }
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_text_cannot_become_markup() {
        let page = render(&[
            Block::Heading(1, "t".into()),
            Block::Para("<script>alert('x')</script> & \"q\"".into()),
        ]);
        assert!(page.contains(
            "<p>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;</p>"
        ));
        assert!(!page.contains("<script"));
        assert!(page.contains("default-src 'none'"));
    }
}
