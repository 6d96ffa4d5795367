//! The fast path of [`super::MetricEvent::parse`]: one validating scan over the record bytes
//! that checks the whole value is JSON and picks out the fields routing and alerting read,
//! without serde's visitors, key buffers or seeds.
//!
//! It accepts a subset of what the serde_json reading in `event.rs` accepts, and reads the same
//! values from it: what it is not sure of gets `None` and is read again by serde_json, which
//! decides and, for a refused record, words the error with its path and position. It gives up
//! on anything malformed, a duplicate read member, a read member of the wrong type, an escape in
//! a key of a read object or in a string it reads, a number serde_json would not make an `f64`
//! of, and nesting deeper than [`MAX_DEPTH`] inside a value. So every rule of `event.rs` holds
//! whichever path a record takes; `event.rs`'s tests hold the two paths to each other on the
//! malformed corpus and on mutated documents.
//!
//! What it checks, as serde_json does: the JSON grammar (whitespace, literals, numbers without
//! leading zeros, strings without raw control characters and with valid escapes, no trailing
//! commas or data); UTF-8 in the strings it reads, in the keys of the objects it reads and in
//! `host`, not in the strings it skips.
//!
//! Not a SIMD parser: sonic-rs 0.5 (`from_slice::<IgnoredAny>`, measured on the bench's
//! documents) took 1.78x serde_json's time, with or without `target-cpu=native`, accepted an
//! invalid `\u` escape in a skipped string and refused invalid UTF-8 in one.

use std::borrow::Cow;

use super::event::{CpuFigures, Fields};
use decimal::short_decimal;
mod decimal;

/// The deepest nesting [`Cursor::skip_value`] follows; deeper values go to serde_json (which
/// skips them without a limit).
const MAX_DEPTH: u32 = 64;

/// The members of a Metricbeat event the topology reads.
const ENVELOPE: &[&[u8]] = &[b"@timestamp", b"host", b"metricset", b"system"];

/// The fields of `raw` when it is surely a JSON object that serde_json reads alike; `None`
/// when serde_json must decide.
pub(super) fn scan(raw: &[u8]) -> Option<Fields<'_>> {
    let mut cursor = Cursor {
        bytes: raw,
        pos: 0,
        spaced: false,
    };
    cursor.skip_whitespace();
    let fields = cursor.envelope()?;
    cursor.skip_whitespace();
    (cursor.pos == raw.len()).then_some(fields)
}

/// A position in the record bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Set when whitespace is skipped (whether `host` needs compacting).
    spaced: bool,
}

/// Eight copies of one byte.
const fn splat(byte: u64) -> u64 {
    byte * (u64::MAX / 255)
}

/// Where a string's eight bytes `word` (little-endian) stop a scan: the high bit of each `"`
/// byte, and of each `\\` or control character. Above the first such byte of each kind, bits
/// may be set wrongly; the lowest bit set of each is right.
fn string_stops(word: u64) -> (u64, u64) {
    let zero_at = |x: u64| x.wrapping_sub(splat(1)) & !x & splat(0x80);
    let quote = zero_at(word ^ splat(u64::from(b'"')));
    let control = word.wrapping_sub(splat(0x20)) & !word & splat(0x80);
    (quote, zero_at(word ^ splat(u64::from(b'\\'))) | control)
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.pos += 1;
        Some(byte)
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
            self.spaced = true;
        }
    }

    /// The next byte that is not whitespace, consumed (compact JSON has none to skip).
    #[inline(always)]
    fn next_token(&mut self) -> Option<u8> {
        let byte = self.next()?;
        if !matches!(byte, b' ' | b'\t' | b'\n' | b'\r') {
            return Some(byte);
        }
        self.spaced = true;
        self.skip_whitespace();
        self.next()
    }

    /// Consumes `byte`, after whitespace.
    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next_token()? == byte).then_some(())
    }

    /// Consumes the rest of a literal whose first byte was read.
    fn literal(&mut self, rest: &[u8]) -> Option<()> {
        let end = self.pos + rest.len();
        (self.bytes.get(self.pos..end)? == rest).then(|| self.pos = end)
    }

    /// Consumes `null` when it comes next.
    fn null(&mut self) -> bool {
        let is_null = self.bytes.get(self.pos..self.pos + 4) == Some(b"null");
        if is_null {
            self.pos += 4;
        }
        is_null
    }

    /// The eight bytes at `pos`, when there are eight.
    fn word(&self) -> Option<u64> {
        let chunk = self.bytes[self.pos..].first_chunk::<8>()?;
        Some(u64::from_le_bytes(*chunk))
    }

    /// Advances to the next `"`, `\` or control character of a string (eight bytes a step).
    fn skip_plain(&mut self) {
        while let Some(word) = self.word() {
            let (quote, special) = string_stops(word);
            let found = quote | special;
            if found != 0 {
                self.pos += found.trailing_zeros() as usize / 8;
                return;
            }
            self.pos += 8;
        }
        while let Some(byte) = self.peek() {
            if byte == b'"' || byte == b'\\' || byte < 0x20 {
                return;
            }
            self.pos += 1;
        }
    }

    /// Consumes a string whose opening quote was read: its contents, and whether it has
    /// escapes (each checked).
    #[inline(always)]
    fn string(&mut self) -> Option<(&'a [u8], bool)> {
        let (text, escaped, _) = self.string_checking::<false>();
        Some((text?, escaped))
    }

    /// Consumes a key of an object the topology reads, whose opening quote was read: its
    /// text, if it is what serde_json reads as a key string here (UTF-8, no escapes).
    #[inline(always)]
    fn read_key(&mut self) -> Option<&'a [u8]> {
        match self.string_checking::<true>() {
            (Some(key), false, true) => Some(key),
            // (The ASCII check rides on the string's word loop: 2-4 ns a key more otherwise.)
            (Some(key), false, false) => std::str::from_utf8(key).is_ok().then_some(key),
            _ => None,
        }
    }

    /// [`Cursor::string`], telling also, when `ASCII`, whether the string is known to be
    /// ASCII (`false`: not known).
    #[inline(always)]
    fn string_checking<const ASCII: bool>(&mut self) -> (Option<&'a [u8]>, bool, bool) {
        let start = self.pos;
        let mut high_bits = 0;
        // Most strings end with nothing to check before their quote: eight bytes a step to it.
        while let Some(word) = self.word() {
            let (quote, special) = string_stops(word);
            if quote | special != 0 {
                let first_quote = quote & quote.wrapping_neg();
                let before_quote = first_quote.wrapping_sub(1);
                if quote != 0 && special & before_quote == 0 {
                    let end = self.pos + quote.trailing_zeros() as usize / 8;
                    self.pos = end + 1;
                    let ascii = ASCII && (high_bits | word & before_quote) & splat(0x80) == 0;
                    return (Some(&self.bytes[start..end]), false, ascii);
                }
                break;
            }
            if ASCII {
                high_bits |= word;
            }
            self.pos += 8;
        }
        match self.long_string(start) {
            Some((text, escaped)) => (Some(text), escaped, false),
            None => (None, false, false),
        }
    }

    /// [`Cursor::string`] from `pos` on, past what its first word cleared.
    fn long_string(&mut self, start: usize) -> Option<(&'a [u8], bool)> {
        let mut escaped = false;
        loop {
            self.skip_plain();
            match self.next()? {
                b'"' => return Some((&self.bytes[start..self.pos - 1], escaped)),
                b'\\' => {
                    escaped = true;
                    match self.next()? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        b'u' => {
                            let hex = self.bytes.get(self.pos..self.pos + 4)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            self.pos += 4;
                        }
                        _ => return None,
                    }
                }
                _ => return None,
            }
        }
    }

    /// Consumes the digits that come next (eight bytes a step); how many.
    fn skip_digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(word) = self.word() {
            // A byte is a digit when `byte ^ b'0'` is below 10; adding 0x76 sets the high bit
            // of any other (a carry out of a non-digit only spoils the bytes above it).
            let offset = word ^ splat(u64::from(b'0'));
            let non_digits = (offset.wrapping_add(splat(0x76)) | offset) & splat(0x80);
            if non_digits != 0 {
                self.pos += non_digits.trailing_zeros() as usize / 8;
                return self.pos - start;
            }
            self.pos += 8;
        }
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    /// Consumes a number (JSON's grammar: no leading zeros, `+`, bare `.` or exponent).
    fn skip_number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.next()? {
            b'0' if !matches!(self.peek(), Some(b'0'..=b'9')) => {}
            b'1'..=b'9' => {
                self.skip_digits();
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.skip_digits() == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.skip_digits() == 0 {
                return None;
            }
        }
        Some(())
    }

    /// Consumes an object key and its colon.
    fn key(&mut self) -> Option<()> {
        self.expect(b'"')?;
        self.string()?;
        self.expect(b':')
    }

    /// Consumes one value of any kind, iteratively (a stack of up to [`MAX_DEPTH`] bits: is
    /// each open container an object).
    fn skip_value(&mut self) -> Option<()> {
        let mut objects = 0u64;
        let mut depth = 0u32;
        loop {
            match self.next_token()? {
                b'"' => {
                    self.string()?;
                }
                b'-' | b'0'..=b'9' => {
                    self.pos -= 1;
                    self.skip_number()?;
                }
                b't' => self.literal(b"rue")?,
                b'f' => self.literal(b"alse")?,
                b'n' => self.literal(b"ull")?,
                open @ (b'{' | b'[') => {
                    if depth == MAX_DEPTH {
                        return None;
                    }
                    depth += 1;
                    objects = objects << 1 | u64::from(open == b'{');
                    let close = open + 2; // `}` and `]`
                    if self.next_token()? != close {
                        self.pos -= 1;
                        if open == b'{' {
                            self.key()?;
                        }
                        continue;
                    }
                    depth -= 1;
                    objects >>= 1;
                }
                _ => return None,
            }
            // After a value: close what ends here, then find the next value.
            loop {
                if depth == 0 {
                    return Some(());
                }
                let in_object = objects & 1 == 1;
                match (self.next_token()?, in_object) {
                    (b',', true) => {
                        self.key()?;
                        break;
                    }
                    (b',', false) => break,
                    (b'}', true) | (b']', false) => {
                        depth -= 1;
                        objects >>= 1;
                    }
                    _ => return None,
                }
            }
        }
    }

    /// Reads the members of the object that comes next: those named in `names` with `read`
    /// (given the name's index), each at most once; the others skipped.
    fn members(
        &mut self,
        names: &[&[u8]],
        mut read: impl FnMut(&mut Self, usize) -> Option<()>,
    ) -> Option<()> {
        self.expect(b'{')?;
        match self.next_token()? {
            b'}' => return Some(()),
            b'"' => {}
            _ => return None,
        }
        let mut seen = 0u32;
        loop {
            // serde_json reads a key of an object the topology reads as a string: UTF-8.
            let key = self.read_key()?;
            self.expect(b':')?;
            self.skip_whitespace();
            match names.iter().position(|name| *name == key) {
                Some(index) if seen & 1 << index != 0 => return None,
                Some(index) => {
                    seen |= 1 << index;
                    read(self, index)?;
                }
                None => self.skip_value()?,
            }
            match self.next_token()? {
                b',' => self.expect(b'"')?,
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    /// `Some(None)` for `null`, else `read`'s value.
    fn nullable<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.null() {
            Some(None)
        } else {
            read(self).map(Some)
        }
    }

    /// A string without escapes, valid UTF-8, or `null`.
    fn text(&mut self) -> Option<Option<Cow<'a, str>>> {
        self.nullable(|cursor| {
            if cursor.next()? != b'"' {
                return None;
            }
            match cursor.string()? {
                (text, false) => std::str::from_utf8(text).ok().map(Cow::Borrowed),
                (_, true) => None,
            }
        })
    }

    /// A number as serde_json reads it into an `f64`, or `null`.
    fn number(&mut self) -> Option<Option<f64>> {
        self.nullable(|cursor| {
            let start = cursor.pos;
            cursor.skip_number()?;
            let text = &cursor.bytes[start..cursor.pos];
            short_decimal(text).or_else(|| serde_json::from_slice(text).ok())
        })
    }

    /// The text of any value, valid UTF-8 (as serde_json's `RawValue`), or `null`.
    fn raw_value(&mut self) -> Option<Option<&'a str>> {
        self.nullable(|cursor| {
            let start = cursor.pos;
            cursor.skip_value()?;
            std::str::from_utf8(&cursor.bytes[start..cursor.pos]).ok()
        })
    }

    /// The event's object: `@timestamp`, `host`, `metricset.name` and `system.cpu`'s figures.
    fn envelope(&mut self) -> Option<Fields<'a>> {
        let mut fields = Fields::default();
        self.members(ENVELOPE, |cursor, index| {
            match index {
                0 => fields.timestamp = cursor.text()?,
                1 => {
                    cursor.spaced = false;
                    fields.host = cursor.raw_value()?;
                    fields.host_compact = !cursor.spaced;
                }
                2 => fields.metricset_name = cursor.nullable(Self::metricset_name)?.flatten(),
                _ => {
                    if let Some(Some(cpu)) = cursor.nullable(Self::system_cpu)? {
                        fields.cpu = cpu;
                    }
                }
            }
            Some(())
        })?;
        Some(fields)
    }

    /// `metricset`: its `name`.
    fn metricset_name(&mut self) -> Option<Option<Cow<'a, str>>> {
        let mut name = None;
        self.members(&[b"name"], |cursor, _| {
            name = cursor.text()?;
            Some(())
        })?;
        Some(name)
    }

    /// `system`: the figures of its `cpu`, when it has one.
    fn system_cpu(&mut self) -> Option<Option<CpuFigures>> {
        let mut cpu = None;
        self.members(&[b"cpu"], |cursor, _| {
            cpu = cursor.nullable(Self::cpu)?;
            Some(())
        })?;
        Some(cpu)
    }

    /// `system.cpu`: `cores`, `total.pct` and `total.norm.pct`.
    fn cpu(&mut self) -> Option<CpuFigures> {
        let mut figures = CpuFigures::default();
        self.members(&[b"total", b"cores"], |cursor, index| {
            if index == 0 {
                if let Some((pct, norm_pct)) = cursor.nullable(Self::cpu_total)? {
                    (figures.pct, figures.norm_pct) = (pct, norm_pct);
                }
            } else {
                figures.cores = cursor.number()?;
            }
            Some(())
        })?;
        Some(figures)
    }

    /// `system.cpu.total`: `pct` and `norm.pct`.
    fn cpu_total(&mut self) -> Option<(Option<f64>, Option<f64>)> {
        let (mut pct, mut norm_pct) = (None, None);
        self.members(&[b"pct", b"norm"], |cursor, index| {
            if index == 0 {
                pct = cursor.number()?;
            } else {
                norm_pct = cursor
                    .nullable(|cursor| {
                        let mut norm = None;
                        cursor.members(&[b"pct"], |cursor, _| {
                            norm = cursor.number()?;
                            Some(())
                        })?;
                        Some(norm)
                    })?
                    .flatten();
            }
            Some(())
        })?;
        Some((pct, norm_pct))
    }
}

#[cfg(test)]
mod tests;
