//! `jitgate._native`: the masking engine of the jitgate gateway for Python. The Python package
//! `jitgate` (in `jitgate/`) puts pandas, Arrow and Polars conventions on top.
//!
//! - [`policy`]: the policy from a configuration file (read by `jitgate-config`, as the gateway
//!   reads it) and a subject's view of it;
//! - [`arrays`]: Arrow arrays through the engine's masks and detectors, without the GIL;
//! - [`scan`]: the detectors over Python text;
//! - [`spec`]: masks named in Python;
//! - [`error`]: the exceptions; nothing panics across the boundary.

mod arrays;
mod error;
mod policy;
mod scan;
mod spec;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<policy::Policy>()?;
    m.add_class::<policy::View>()?;
    m.add_class::<spec::PyMask>()?;
    m.add_function(wrap_pyfunction!(scan::scan_text, m)?)?;
    m.add_function(wrap_pyfunction!(scan::scan_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(scan::scan_array, m)?)?;
    m.add_function(wrap_pyfunction!(scan::redact_text, m)?)?;
    m.add_function(wrap_pyfunction!(scan::redact_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(scan::redact_array, m)?)?;
    m.add("ConfigError", py.get_type::<error::ConfigError>())?;
    m.add("MaskingError", py.get_type::<error::MaskingError>())?;
    m.add(
        "UnsupportedTypeError",
        py.get_type::<error::UnsupportedTypeError>(),
    )?;
    m.add("InternalError", py.get_type::<error::InternalError>())?;
    Ok(())
}
