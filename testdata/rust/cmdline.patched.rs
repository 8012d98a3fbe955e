// SPDX-License-Identifier: GPL-2.0
//! The Rust pair of ksplice's demangling tests: a crate with no std and
//! no C, built as kernels with CONFIG_RUST build their Rust code (see the
//! Makefile). The patch changes Cmdline::width and the Show impl.
#![no_std]

pub mod cmdline {
    pub struct Cmdline {
        pub len: usize,
    }

    pub trait Show {
        fn show(&self, buf: &mut [u8]) -> usize;
    }

    impl Cmdline {
        #[inline(never)]
        pub fn width(&self) -> usize {
            self.len + 2
        }
    }

    impl Show for Cmdline {
        #[inline(never)]
        fn show(&self, buf: &mut [u8]) -> usize {
            let n = core::cmp::min(self.len, buf.len());
            for b in buf.iter_mut().take(n) {
                *b = b'k';
            }
            n
        }
    }

    #[inline(never)]
    pub fn unchanged(c: &Cmdline) -> usize {
        c.len ^ 0x55
    }
}
