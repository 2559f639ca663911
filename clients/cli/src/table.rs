//! Text output for people: tab-separated lines become aligned columns.

/// Aligns the tab-separated columns of `text` (lines without tabs are left as they are).
pub fn align(text: &str) -> String {
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<usize> = Vec::new();
    for row in rows.iter().filter(|r| r.len() > 1) {
        for (i, cell) in row.iter().enumerate() {
            let w = cell.chars().count();
            match widths.get_mut(i) {
                Some(old) => *old = (*old).max(w),
                None => widths.push(w),
            }
        }
    }
    rows.iter()
        .map(|row| {
            if row.len() < 2 {
                return row.join("");
            }
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                line.push_str(cell);
                if i + 1 < row.len() {
                    let pad = widths[i] - cell.chars().count() + 2;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            line.trim_end().to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn aligns_columns() {
        assert_eq!(
            super::align("a\tbb\tc\nlong\tx\ty\nplain line"),
            "a     bb  c\nlong  x   y\nplain line"
        );
    }
}
