//! Short JSON numbers read into `f64` without serde_json's deserializer, bit for bit as it
//! reads them (the scan reads a cpu event's few figures this way).

/// Powers of ten up to the 19th, each exact in an `f64`.
const POWERS_OF_TEN: [f64; 20] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19,
];

/// The `f64` serde_json makes of a valid JSON number of at most 19 digits and no exponent,
/// by its own steps (its digits as a `u64`, converted, divided by the power of ten of its
/// decimals), so bit for bit the same; `None` for any other number (serde_json reads it).
pub(super) fn short_decimal(number: &[u8]) -> Option<f64> {
    let (negative, digits) = match number.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, number),
    };
    if digits.len() > 19 {
        return None;
    }
    let (mut significand, mut decimals, mut after_point) = (0u64, 0usize, false);
    for &byte in digits {
        match byte {
            b'0'..=b'9' => {
                significand = significand * 10 + u64::from(byte - b'0');
                decimals += usize::from(after_point);
            }
            b'.' if !after_point => after_point = true,
            _ => return None,
        }
    }
    // At most 19 digits: the significand cannot overflow, and the power of ten is exact.
    let value = significand as f64 / *POWERS_OF_TEN.get(decimals)?;
    Some(if negative { -value } else { value })
}
