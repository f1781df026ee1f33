//! Go's `text/tabwriter` as `oc` configures it: `NewWriter(w, 0, 0, 3, ' ', 0)`.
//!
//! `oc` aligns every table with it, and its quirks show in the output byte for byte: a cell is text
//! terminated by a tab, so the text after a line's last tab is never padded while an empty cell before a
//! tab still is; a column is as wide as its widest cell (in runes) plus 3, counted over the consecutive
//! lines that have that column; and a line without any tab flushes everything buffered, so a multi-line
//! message splits one table into independently aligned blocks.

/// Spaces added after the widest cell of a column (`oc` passes 3).
const PADDING: usize = 3;

/// One cell: its text and its width in runes.
#[derive(Debug, Clone, Default)]
struct Cell {
    text: String,
    width: usize,
}

/// A tab-aligning writer; write text with [`TabWriter::write`], then take the result with
/// [`TabWriter::finish`].
#[derive(Debug)]
pub(crate) struct TabWriter {
    out: String,
    /// Buffered lines of terminated cells; the last one is the line being written.
    lines: Vec<Vec<Cell>>,
    /// The cell being written.
    cell: String,
    /// Column widths of the enclosing column blocks while formatting.
    widths: Vec<usize>,
}

impl TabWriter {
    /// An empty writer.
    pub(crate) fn new() -> Self {
        Self {
            out: String::new(),
            lines: vec![Vec::new()],
            cell: String::new(),
            widths: Vec::new(),
        }
    }

    /// Buffers `text`, formatting and emitting whatever a tab-less line allows to flush.
    pub(crate) fn write(&mut self, text: &str) {
        for ch in text.chars() {
            match ch {
                '\t' | '\u{b}' => {
                    self.terminate_cell();
                }
                '\n' | '\u{c}' => {
                    let cells = self.terminate_cell();
                    self.lines.push(Vec::new());
                    if ch == '\u{c}' || cells == 1 {
                        self.flush();
                    }
                }
                _ => self.cell.push(ch),
            }
        }
    }

    /// Flushes what is buffered and returns everything written.
    pub(crate) fn finish(mut self) -> String {
        self.flush();
        self.out
    }

    /// Ends the current cell; returns how many cells its line now has.
    fn terminate_cell(&mut self) -> usize {
        let text = std::mem::take(&mut self.cell);
        let width = text.chars().count();
        if self.lines.is_empty() {
            self.lines.push(Vec::new());
        }
        match self.lines.last_mut() {
            Some(line) => {
                line.push(Cell { text, width });
                line.len()
            }
            None => 0,
        }
    }

    /// Go's `flushNoDefers`: terminates a pending cell, formats all buffered lines and resets.
    fn flush(&mut self) {
        if !self.cell.is_empty() {
            self.terminate_cell();
        }
        let count = self.lines.len();
        self.format(0, count);
        self.lines = vec![Vec::new()];
        self.widths.clear();
    }

    /// Go's `format`: finds the column blocks to the right of the known widths, recursively.
    fn format(&mut self, mut line0: usize, line1: usize) {
        let column = self.widths.len();
        let mut this = line0;
        while this < line1 {
            if !self.has_column(this, column) {
                this += 1;
                continue;
            }
            // This line starts a column block: print the lines before it with the widths known so far.
            self.write_lines(line0, this);
            line0 = this;
            let mut width = 0;
            while this < line1 && self.has_column(this, column) {
                let cell_width = self
                    .lines
                    .get(this)
                    .and_then(|line| line.get(column))
                    .map_or(0, |cell| cell.width);
                width = width.max(cell_width + PADDING);
                this += 1;
            }
            self.widths.push(width);
            self.format(line0, this);
            self.widths.pop();
            line0 = this;
        }
        self.write_lines(line0, line1);
    }

    /// Whether line `index` has a tab-terminated cell in `column` (its last cell never counts).
    fn has_column(&self, index: usize, column: usize) -> bool {
        self.lines
            .get(index)
            .is_some_and(|line| column + 1 < line.len())
    }

    /// Go's `writeLines`: prints lines, padding every cell that has a known column width.
    fn write_lines(&mut self, line0: usize, line1: usize) {
        let total = self.lines.len();
        for index in line0..line1 {
            if let Some(line) = self.lines.get(index) {
                for (column, cell) in line.iter().enumerate() {
                    self.out.push_str(&cell.text);
                    if let Some(width) = self.widths.get(column) {
                        let pad = width.saturating_sub(cell.width);
                        self.out.extend(std::iter::repeat_n(' ', pad));
                    }
                }
            }
            if index + 1 == total {
                // The last buffered line has no newline yet: write its pending text only.
                self.out.push_str(&self.cell);
            } else {
                self.out.push('\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Aligns `text` as one tabwriter would, from creation to `Flush`.
    fn align(text: &str) -> String {
        let mut writer = TabWriter::new();
        writer.write(text);
        writer.finish()
    }

    #[test]
    fn pads_columns_to_widest_cell_plus_three() {
        let got = align("NAME\tSINCE\tMESSAGE\netcd\t45s\tok\nkube-apiserver\t6m8s\tfine\n");
        assert_eq!(
            got,
            "NAME             SINCE   MESSAGE\n\
             etcd             45s     ok\n\
             kube-apiserver   6m8s    fine\n"
        );
    }

    #[test]
    fn empty_trailing_cell_still_pads_the_cell_before_it() {
        // oc's node rows end with "EST\t" + "" + "\n": the EST column is padded, leaving spaces.
        let got = align("NAME\tEST\tMESSAGE\nnode-a\t?\t\n");
        assert_eq!(got, "NAME     EST   MESSAGE\nnode-a   ?     \n");
    }

    #[test]
    fn last_cell_of_a_line_is_not_aligned() {
        let got = align("a\tlong last cell\nbbb\tx\n");
        assert_eq!(got, "a     long last cell\nbbb   x\n");
    }

    #[test]
    fn width_counts_runes_not_bytes() {
        let got = align("µµ\tx\nab\ty\n");
        assert_eq!(got, "µµ   x\nab   y\n");
    }

    #[test]
    fn line_without_tabs_flushes_and_splits_alignment() {
        // A multi-line message: its continuation line has no tab, so the rows after it are aligned on
        // their own, as in oc's ocpbugs-60768 fixture.
        let got = align("NAME\tMESSAGE\na\tfirst line\nsecond line\nmuch-longer-name\tz\nb\tw\n");
        assert_eq!(
            got,
            "NAME   MESSAGE\n\
             a      first line\n\
             second line\n\
             much-longer-name   z\n\
             b                  w\n"
        );
    }

    #[test]
    fn leading_newline_writes_an_empty_line() {
        assert_eq!(align("\nA\tB\nxx\ty\n"), "\nA    B\nxx   y\n");
    }

    #[test]
    fn column_blocks_end_where_a_line_has_fewer_cells() {
        // The second column only spans lines 0-1; line 2 has one tab, so column 1 starts anew at line 3.
        let got = align("a\tb\tc\naa\tbbbb\tc\nx\ty\nq\tr\ts\n");
        assert_eq!(
            got,
            "a    b      c\n\
             aa   bbbb   c\n\
             x    y\n\
             q    r   s\n"
        );
    }

    #[test]
    fn text_without_final_newline_is_flushed_as_is() {
        assert_eq!(align("a\tb\nccc\td"), "a     b\nccc   d");
    }

    #[test]
    fn continuation_lines_with_three_tabs_stay_in_the_table() {
        let got = align(
            "NAME\tSINCE\tREASON\tMESSAGE\nimage-registry\t6s\tReason\tfirst\n\t\t\tsecond\nmon\t4s\tR\tthird\n",
        );
        let expected = format!(
            "NAME             SINCE   REASON   MESSAGE\n\
             image-registry   6s      Reason   first\n\
             {}second\n\
             mon              4s      R        third\n",
            " ".repeat(17 + 8 + 9)
        );
        assert_eq!(got, expected);
    }

    #[test]
    fn random_inputs_match_go() {
        // Inputs drawn at random and their output printed by Go 1.19's text/tabwriter with oc's
        // settings; 400 such cases matched when this was written.
        let cases = [
            (
                "?\nµ-bbbb\t\t-xyzw\t\n\n\t\t?\n\t\t\né\tccc\txyzw\t\n\n\né\t-\t-\n\t",
                "?\nµ-bbbb      -xyzw   \n\n          ?\n          \né   ccc   xyzw   \n\n\né   -   -\n",
            ),
            (
                "\n\né\txyzwµµµ\t\nµ\nµ\né-\n? \t\t?\n\t-\t\t\nxyzw\t\t?",
                "\n\né   xyzwµµµ   \nµ\nµ\né-\n?          ?\n       -      \nxyzw       ?",
            ),
            (
                "\nµ\t\n?\tµ\té\naébb \t\tcccµccc\n\téa\t\ta\né\t\nbbccc?\t\t",
                "\nµ        \n?        µ    é\naébb          cccµccc\n         éa      a\né        \nbbccc?   ",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(align(input), want, "{input:?}");
        }
    }
}
