//! The native module `wsmachine._wsmachine`: wsproto's API over the wsmachine core.
//!
//! Everything that touches protocol bytes (HTTP parsing, framing, masking, UTF-8 validation)
//! happens in the core; this layer converts between Python objects and the core's borrowed
//! slices, writing each output `bytes` object once.

mod conn;
mod deflate;
mod events;
mod extensions;
mod pytypes;
mod reconnect;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// ``Sec-WebSocket-Accept`` for a ``Sec-WebSocket-Key`` (RFC 6455 section 4.2.2).
#[pyfunction]
fn generate_accept_token<'py>(py: Python<'py>, token: &[u8]) -> Bound<'py, PyBytes> {
    PyBytes::new(py, &wsmachine::accept_key(token))
}

#[pymodule]
fn _wsmachine(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("DEFAULTS", conn::defaults_dict(m.py())?)?;
    m.add_class::<events::Event>()?;
    m.add_class::<events::Request>()?;
    m.add_class::<events::AcceptConnection>()?;
    m.add_class::<events::RejectConnection>()?;
    m.add_class::<events::RejectData>()?;
    m.add_class::<events::CloseConnection>()?;
    m.add_class::<events::Message>()?;
    m.add_class::<events::TextMessage>()?;
    m.add_class::<events::BytesMessage>()?;
    m.add_class::<events::Ping>()?;
    m.add_class::<events::Pong>()?;
    m.add_class::<conn::WSConnection>()?;
    m.add_class::<conn::PostHandshakeConnection>()?;
    m.add_class::<conn::EventIter>()?;
    m.add_class::<reconnect::Backoff>()?;
    m.add_function(wrap_pyfunction!(reconnect::should_reconnect, m)?)?;
    m.add_function(wrap_pyfunction!(reconnect::plan, m)?)?;
    m.add_function(wrap_pyfunction!(generate_accept_token, m)?)?;
    m.add_function(wrap_pyfunction!(deflate::_pmd_accept, m)?)?;
    m.add_function(wrap_pyfunction!(deflate::_pmd_finalize, m)?)?;
    Ok(())
}
