//! The store's suite on every backend: each check written once with [`store_checks!`] runs as a
//! test of its own on SQLite, and all of them together on a throwaway PostgreSQL cluster (one
//! fresh database per check).

mod postgres;

/// Declares store checks `fn name(store) { … }`: each becomes a function over `&dyn Store`, a
/// SQLite test, and an entry of `CHECKS` for the other backends.
#[macro_export]
#[doc(hidden)]
macro_rules! store_checks {
    ($(fn $name:ident($store:ident) $body:block)*) => {
        $(
            #[allow(dead_code)]
            pub(crate) fn $name($store: &dyn $crate::store::Store) $body
        )*

        pub(crate) const CHECKS: &[(&str, fn(&dyn $crate::store::Store))] =
            &[$((stringify!($name), $name)),*];

        mod on_sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name(&$crate::store::SqliteStore::in_memory().expect("store"))
                }
            )*
        }
    };
}
