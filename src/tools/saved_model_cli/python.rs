//! How Python prints the plain values saved_model_cli shows: `repr` of a
//! string (quotes chosen and characters escaped as CPython does), of a float
//! (the shortest round-trip digits, exponent form outside 1e-4..1e16), and
//! of lists and sets of strings.

/// `repr(s)`: single quotes unless the string holds `'` and no `"`.
pub fn str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        push_escaped(&mut out, c, quote);
    }
    out.push(quote);
    out
}

/// One character of a string literal, escaped as CPython's `repr` escapes it
/// (non-ASCII letters stay; control characters become `\xNN`).
fn push_escaped(out: &mut String, c: char, quote: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if c == quote => {
            out.push('\\');
            out.push(c);
        }
        c if (c as u32) < 0x20 || (0x7f..0xa0).contains(&(c as u32)) => {
            out.push_str(&format!("\\x{:02x}", c as u32));
        }
        c => out.push(c),
    }
}

/// `repr(x)` of a Python float: `0.5`, `2.0`, `1e+20`, `1.5e-05`, `inf`, `nan`.
pub fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    // Rust's `{:e}` gives the shortest digits that round-trip, as Python does.
    let scientific = format!("{:e}", x.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if x.is_sign_negative() { "-" } else { "" };
    if (-4..16).contains(&exponent) {
        format!("{sign}{}", fixed_notation(&digits, exponent))
    } else {
        let (first, fraction) = digits.split_at(digits.len().min(1));
        let point = if fraction.is_empty() { "" } else { "." };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!(
            "{sign}{first}{point}{fraction}e{exp_sign}{:02}",
            exponent.abs()
        )
    }
}

/// Digits `d1d2d3...` times 10^(exponent) written out, with at least one
/// digit after the point.
fn fixed_notation(digits: &str, exponent: i32) -> String {
    if exponent < 0 {
        let zeros = "0".repeat((-exponent - 1) as usize);
        return format!("0.{zeros}{digits}");
    }
    let integer_len = exponent as usize + 1;
    if digits.len() <= integer_len {
        let zeros = "0".repeat(integer_len - digits.len());
        format!("{digits}{zeros}.0")
    } else {
        let (integer, fraction) = digits.split_at(integer_len);
        format!("{integer}.{fraction}")
    }
}

/// `repr` of a list of strings: `['serve', 'gpu']`.
pub fn str_list_repr<S: AsRef<str>>(items: &[S]) -> String {
    let items: Vec<String> = items.iter().map(|s| str_repr(s.as_ref())).collect();
    format!("[{}]", items.join(", "))
}

/// `repr` of a set of strings, in the given order: `{'Const', 'MatMul'}`,
/// `set()` when empty. (Python's own order follows string hashes that change
/// from run to run; callers pass a sorted list.)
pub fn str_set_repr<S: AsRef<str>>(items: &[S]) -> String {
    if items.is_empty() {
        return "set()".into();
    }
    let items: Vec<String> = items.iter().map(|s| str_repr(s.as_ref())).collect();
    format!("{{{}}}", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_quoted_like_python() {
        assert_eq!(str_repr("serve"), "'serve'");
        assert_eq!(str_repr("it's"), "\"it's\"");
        assert_eq!(str_repr("a'b\"c"), "'a\\'b\"c'");
        assert_eq!(str_repr("x\ny\\"), "'x\\ny\\\\'");
        assert_eq!(str_repr("\u{1}é"), "'\\x01é'");
    }

    #[test]
    fn floats_print_like_python_repr() {
        for (x, text) in [
            (0.5, "0.5"),
            (2.0, "2.0"),
            (1e20, "1e+20"),
            (1e-5, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (123456.75, "123456.75"),
            (1e16, "1e+16"),
            (1234567890123456.0, "1234567890123456.0"),
            (-0.0, "-0.0"),
            (-2.5, "-2.5"),
            (f64::INFINITY, "inf"),
            (0.1 + 0.2, "0.30000000000000004"),
        ] {
            assert_eq!(float_repr(x), text, "{x:?}");
        }
    }

    #[test]
    fn lists_and_sets_of_strings() {
        assert_eq!(str_list_repr(&["serve", "gpu"]), "['serve', 'gpu']");
        assert_eq!(str_list_repr::<&str>(&[]), "[]");
        assert_eq!(str_set_repr(&["A", "B"]), "{'A', 'B'}");
        assert_eq!(str_set_repr::<&str>(&[]), "set()");
    }
}
