//! Finding where a run of NUL bytes ends, eight bytes at a time: zero-filled
//! blocks (a power cut, a sparse file) can be gigabytes long.

/// Index of the first byte that is not NUL.
pub fn first_nonzero(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    for c in b.chunks_exact(8) {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        if w != 0 {
            return Some(i + (w.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b[i..].iter().position(|&x| x != 0).map(|j| i + j)
}

/// Length of `b` without its trailing NUL bytes (the end of the data).
pub fn data_end(b: &[u8]) -> usize {
    let tail = b.len() % 8;
    if let Some(j) = b[b.len() - tail..].iter().rposition(|&x| x != 0) {
        return b.len() - tail + j + 1;
    }
    let mut end = b.len() - tail;
    for c in b[..end].rchunks_exact(8) {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        if w != 0 {
            return end - (w.leading_zeros() / 8) as usize;
        }
        end -= 8;
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agree_with_the_plain_loops() {
        for len in 0..40 {
            for at in 0..=len {
                let mut b = vec![0u8; len];
                if at < len {
                    b[at] = 7;
                }
                assert_eq!(first_nonzero(&b), b.iter().position(|&x| x != 0));
                assert_eq!(
                    data_end(&b),
                    b.iter().rposition(|&x| x != 0).map_or(0, |i| i + 1)
                );
            }
        }
    }
}
