//! Growth of cumulative kernel counters between two readings.

/// How much a cumulative counter grew from `previous` to `current`, allowing for one
/// wrap-around, as Metricbeat's `createGaugeWithRollover`: a counter that shrank wrapped at
/// 2⁶⁴ if its previous value did not fit 32 bits, else at 2³² (32-bit drivers).
pub fn growth(previous: u64, current: u64) -> u64 {
    if current >= previous {
        current - previous
    } else if previous > u64::from(u32::MAX) {
        (u64::MAX - previous).wrapping_add(current).wrapping_add(1)
    } else {
        u64::from(u32::MAX) - previous + current + 1
    }
}

#[cfg(test)]
mod tests {
    use super::growth;

    #[test]
    fn wraps_at_32_or_64_bits() {
        assert_eq!(growth(347_458_374_592, 347_458_374_592 + 3452), 3452);
        assert_eq!(growth(u64::from(u32::MAX) - 10, 10), 21);
        assert_eq!(growth(u64::MAX - 5000, 32), 5033);
        assert_eq!(growth(u64::MAX, 0), 1);
        assert_eq!(growth(7, 7), 0);
    }
}
