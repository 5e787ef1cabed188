//! Lookups of the pure-Python enumerations and exceptions in `wsmachine._types`, and error
//! conversions.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyModule, PyString, PyTuple};

static TYPES: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
static CLOSE_REASONS: PyOnceLock<Py<PyDict>> = PyOnceLock::new();

/// The `wsmachine._types` module.
pub(crate) fn types(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    TYPES
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(py.import("wsmachine._types")?.unbind())
        })
        .map(|m| m.bind(py))
}

/// An attribute of `wsmachine._types` (a class).
pub(crate) fn ty<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    types(py)?.getattr(name)
}

/// A member of one of the enumerations, e.g. `member(py, "ConnectionState", "OPEN")`.
pub(crate) fn member<'py>(py: Python<'py>, class: &str, name: &str) -> PyResult<Bound<'py, PyAny>> {
    ty(py, class)?.getattr(name)
}

/// A close code as a `CloseReason` member when it has one, else as an `int`.
pub(crate) fn close_code(py: Python<'_>, code: u16) -> PyResult<Py<PyAny>> {
    let map = CLOSE_REASONS.get_or_try_init(py, || {
        let m = ty(py, "CloseReason")?.getattr("_value2member_map_")?;
        Ok::<_, PyErr>(m.cast_into::<PyDict>()?.unbind())
    })?;
    match map.bind(py).get_item(code)? {
        Some(m) => Ok(m.unbind()),
        None => Ok(code.into_pyobject(py)?.into_any().unbind()),
    }
}

fn make_err(py: Python<'_>, class: &str, args: PyResult<Bound<'_, PyTuple>>) -> PyErr {
    let made = ty(py, class).and_then(|c| Ok::<_, PyErr>(PyErr::from_value(c.call1(args?)?)));
    match made {
        Ok(e) => e,
        Err(e) => e,
    }
}

/// `LocalProtocolError(msg)`.
pub(crate) fn local_error(py: Python<'_>, msg: impl Into<String>) -> PyErr {
    make_err(py, "LocalProtocolError", PyTuple::new(py, [msg.into()]))
}

/// `RemoteProtocolError(msg, event_hint=hint)`.
pub(crate) fn remote_error(py: Python<'_>, msg: impl Into<String>, hint: Py<PyAny>) -> PyErr {
    make_err(
        py,
        "RemoteProtocolError",
        PyTuple::new(
            py,
            [PyString::new(py, &msg.into()).into_any().unbind(), hint],
        ),
    )
}

/// Maps a core API error to the Python exception wsproto raises in the same situation.
pub(crate) fn core_error(py: Python<'_>, e: wsmachine::Error) -> PyErr {
    use wsmachine::Error as E;
    match e {
        E::ControlPayloadTooLong => {
            pyo3::exceptions::PyValueError::new_err("payload too long for control frame")
        }
        E::BufferTooSmall { needed } => pyo3::exceptions::PyRuntimeError::new_err(format!(
            "wsmachine internal error: output size mismatch ({needed} bytes needed)"
        )),
        E::Handshake(h) => remote_error(py, h.as_str(), py.None()),
        // Constructor arguments the core's `Config::validate` refused.
        E::InvalidConfig(_) => pyo3::exceptions::PyValueError::new_err(e.to_string()),
        other => local_error(py, other.to_string()),
    }
}
