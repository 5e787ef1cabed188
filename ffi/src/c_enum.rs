//! The numbers of the C enums are written once: as the discriminants of their `#[repr(u32)]`
//! definitions in `types.rs`, which cbindgen copies into `include/wsmachine.h`. Everything
//! that turns a number from C back into a variant derives from those discriminants through
//! [`c_enum!`], so no match arm restates a number. (cbindgen does not expand macros, so the
//! enums themselves stay plain Rust.) `enum_numbers_tests.rs` checks the header and the
//! Python package against these definitions.

/// For a C enum, from the list of its variants: `ALL` (every variant, in declaration order)
/// and `from_u32` (the variant with that discriminant). The list cannot drift from the enum:
/// a variant left out is a non-exhaustive match and one listed twice an unreachable pattern,
/// both compile errors.
macro_rules! c_enum {
    ($ty:ident { $first:ident $(, $rest:ident)* $(,)? }) => {
        impl $ty {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$ty] = &[$ty::$first $(, $ty::$rest)*];

            /// The variant numbered `v`, if there is one.
            pub const fn from_u32(v: u32) -> Option<$ty> {
                if v == $ty::$first as u32 {
                    return Some($ty::$first);
                }
                $(
                    if v == $ty::$rest as u32 {
                        return Some($ty::$rest);
                    }
                )*
                None
            }
        }

        const _: () = {
            #[deny(unreachable_patterns)]
            const fn every_variant_is_listed_once(v: $ty) {
                match v {
                    $ty::$first $(| $ty::$rest)* => {}
                }
            }
            every_variant_is_listed_once($ty::$first)
        };
    };
}
pub(crate) use c_enum;
