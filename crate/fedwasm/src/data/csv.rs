//! Loader for numeric CSV files.
//!
//! # Format
//! One example per line; fields separated by [`CsvOptions::delimiter`]
//! (default `,`), optionally wrapped in double quotes (`""` is a literal
//! quote; quoted fields cannot span lines). An optional header names the
//! columns. One column is the label, one optional column is the client id
//! (any string); every other column, in order, is a feature, so
//! `x_shape = [columns - 1 - (client column ? 1 : 0)]`. Without a client column
//! all rows belong to the single client `"0"`. Blank lines are skipped; line
//! numbers in errors count every physical line from 1.

use std::collections::BTreeMap;

use super::client_data::ClientData;
use super::element::{ElementSpec, Examples, LabelSpec};
use crate::error::{Error, Result};
use crate::limits::{LimitField, Limits};

/// A column, by 0-based position or by header name.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum ColumnRef {
    /// 0-based column position.
    Index(usize),
    /// Header name (needs a header).
    Name(String),
}

/// How to read a CSV file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CsvOptions {
    /// The first non-blank line holds column names.
    pub has_header: bool,
    /// The label column.
    pub label_column: ColumnRef,
    /// The client id column, if any.
    pub client_column: Option<ColumnRef>,
    /// The feature columns, in this order (default: every column but the
    /// label and client columns, in file order).
    #[serde(default)]
    pub feature_columns: Option<Vec<ColumnRef>>,
    /// What the labels are.
    pub label: LabelSpec,
    /// Field separator.
    pub delimiter: char,
}

impl CsvOptions {
    /// Options with a header, no client column and `,` as separator.
    pub fn new(label_column: ColumnRef, label: LabelSpec) -> Self {
        CsvOptions {
            has_header: true,
            label_column,
            client_column: None,
            feature_columns: None,
            label,
            delimiter: ',',
        }
    }
}

/// Reads a CSV file.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; otherwise as [`parse_csv`].
#[cfg(not(target_arch = "wasm32"))]
pub fn load_csv(path: &std::path::Path, opts: &CsvOptions) -> Result<ClientData> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_csv(&path.display().to_string(), &text, opts)
}

/// Parses CSV text; `name` is used in error messages.
///
/// # Errors
/// [`Error::Limit`] for a text over `max_message_bytes`, more columns than
/// `max_tensor_elements` or a client with more rows than
/// `max_examples_per_client`;
/// [`Error::Data`] naming the file, line and field when a row has the wrong
/// number of columns ("expected N columns, found M"), a feature or label is
/// not a finite number (naming the column), a label does not fit
/// [`CsvOptions::label`], a column reference is unknown, a quote is
/// unterminated, or there are no rows.
pub fn parse_csv(name: &str, text: &str, opts: &CsvOptions) -> Result<ClientData> {
    const OP: &str = "parse_csv";
    let limits = Limits::current();
    limits
        .check_bytes(OP, "a CSV file", text.len())
        .map_err(|e| e.in_context(format_args!("file {name}")))?;
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty());
    // The first line fixes the width: a label, maybe a client id, and the
    // features of one example (a tensor, so at most max_tensor_elements).
    let max_width = usize::try_from(limits.max_tensor_elements)
        .unwrap_or(usize::MAX)
        .saturating_add(2);
    let first_line = |ln: usize, line: &str| {
        split_fields(name, ln, line, opts.delimiter, max_width)?.ok_or_else(|| Error::Limit {
            op: OP,
            what: format!(
                "columns of line {ln} of {name} (features of one example, plus label and client)"
            ),
            field: LimitField::TensorElements.name(),
            limit: limits.max_tensor_elements,
            got: format!("more than {max_width}"),
        })
    };
    let mut header: Option<Vec<String>> = None;
    let mut first_row = None;
    if opts.has_header {
        if let Some((ln, line)) = lines.next() {
            header = Some(first_line(ln, line)?);
        }
    } else {
        first_row = lines.next();
    }
    let width = match (&header, first_row) {
        (Some(h), _) => h.len(),
        (None, Some((ln, line))) => first_line(ln, line)?.len(),
        (None, None) => return Err(Error::data(name, "file", "rows", "no rows")),
    };
    let col_name = |j: usize| match &header {
        Some(h) => h[j].clone(),
        None => format!("column {j}"),
    };
    let resolve = |c: &ColumnRef, what: &str| -> Result<usize> {
        match c {
            ColumnRef::Index(j) if *j < width => Ok(*j),
            ColumnRef::Index(j) => Err(Error::data(
                name,
                "header",
                what,
                format!("column {j} does not exist ({width} columns)"),
            )),
            ColumnRef::Name(n) => header
                .as_ref()
                .and_then(|h| h.iter().position(|c| c == n))
                .ok_or_else(|| Error::data(name, "header", what, format!("no column named {n:?}"))),
        }
    };
    let label_col = resolve(&opts.label_column, "label_column")?;
    let client_col = opts
        .client_column
        .as_ref()
        .map(|c| resolve(c, "client_column"))
        .transpose()?;
    if client_col == Some(label_col) {
        return Err(Error::data(
            name,
            "header",
            "client_column",
            "is the label column",
        ));
    }
    let features: Vec<usize> = match &opts.feature_columns {
        None => (0..width)
            .filter(|&j| j != label_col && Some(j) != client_col)
            .collect(),
        Some(cols) => {
            let mut picked = Vec::with_capacity(cols.len());
            for c in cols {
                let j = resolve(c, "feature_columns")?;
                if j == label_col || Some(j) == client_col || picked.contains(&j) {
                    return Err(Error::data(
                        name,
                        "header",
                        "feature_columns",
                        format!(
                            "{} is the label, the client or another feature column",
                            col_name(j)
                        ),
                    ));
                }
                picked.push(j);
            }
            if picked.is_empty() {
                return Err(Error::data(
                    name,
                    "header",
                    "feature_columns",
                    "no feature columns",
                ));
            }
            picked
        }
    };
    let spec = ElementSpec::new(vec![features.len()], opts.label.clone());
    spec.validate()?;

    let mut groups: BTreeMap<String, (Vec<f32>, Vec<f32>)> = BTreeMap::new();
    for (ln, line) in first_row.into_iter().chain(lines) {
        let record = || format!("line {ln}");
        // Splitting stops past the width: a row of commas costs no more
        // than one of the right width.
        let fields = match split_fields(name, ln, line, opts.delimiter, width)? {
            Some(f) if f.len() == width => f,
            other => {
                let found =
                    other.map_or_else(|| format!("more than {width}"), |f| f.len().to_string());
                return Err(Error::data(
                    name,
                    record(),
                    "row",
                    format!("expected {width} columns, found {found}"),
                ));
            }
        };
        let number = |j: usize| {
            fields[j]
                .trim()
                .parse::<f32>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    Error::data(
                        name,
                        record(),
                        col_name(j),
                        format!("{:?} is not a finite number", fields[j]),
                    )
                })
        };
        let y = number(label_col)?;
        spec.check_label(y)
            .map_err(|d| Error::data(name, record(), col_name(label_col), d))?;
        let client = client_col.map_or_else(|| "0".to_string(), |j| fields[j].trim().to_string());
        let entry = groups.entry(client).or_default();
        limits
            .check(
                OP,
                LimitField::ExamplesPerClient,
                "rows of one client",
                entry.1.len() as u64 + 1,
            )
            .map_err(|e| e.in_context(format_args!("file {name}, {}", record())))?;
        for &j in &features {
            entry.0.push(number(j)?);
        }
        entry.1.push(y);
    }
    if groups.is_empty() {
        return Err(Error::data(name, "file", "rows", "no data rows"));
    }
    let mut clients = BTreeMap::new();
    for (id, (x, y)) in groups {
        clients.insert(id, Examples::new(spec.clone(), x, y)?);
    }
    ClientData::from_clients(spec, clients)
}

/// Splits one line into fields, handling double quotes; `None` when it has
/// more than `max_fields`.
fn split_fields(
    name: &str,
    ln: usize,
    line: &str,
    delim: char,
    max_fields: usize,
) -> Result<Option<Vec<String>>> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == '"' && cur.trim().is_empty() {
            cur.clear();
            quoted = true;
        } else if c == delim {
            if fields.len() + 1 >= max_fields {
                return Ok(None);
            }
            fields.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    if quoted {
        return Err(Error::data(
            name,
            format!("line {ln}"),
            format!("column {}", fields.len()),
            "unterminated quote",
        ));
    }
    fields.push(cur);
    Ok(Some(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_and_clients() {
        let text = "client,a,label,b\n\"x\",1,0,2\ny,3,1,4\nx,5,1,6\n";
        let mut opts = CsvOptions::new(
            ColumnRef::Name("label".into()),
            LabelSpec::Class { num_classes: 2 },
        );
        opts.client_column = Some(ColumnRef::Index(0));
        let cd = parse_csv("t.csv", text, &opts).unwrap();
        assert_eq!(cd.client_ids(), vec!["x", "y"]);
        let x = cd.examples_for_client("x").unwrap();
        assert_eq!(x.x(), &[1.0, 2.0, 5.0, 6.0]);
        assert_eq!(x.y(), &[0.0, 1.0]);
    }

    #[test]
    fn bad_number_names_column() {
        let text = "a,label\n1,0\nzz,1\n";
        let opts = CsvOptions::new(ColumnRef::Index(1), LabelSpec::Real);
        let m = parse_csv("t.csv", text, &opts).unwrap_err().to_string();
        assert!(
            m.contains("t.csv") && m.contains("line 3") && m.contains("field a"),
            "{m}"
        );
    }
}
