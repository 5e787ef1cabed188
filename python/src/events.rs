//! Event classes, shaped like wsproto's frozen dataclasses: same names, fields, defaults,
//! positional order, equality, hashing and `repr`.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple, PyType};

/// Field names and values of an event, in declaration order.
type Fields<'py> = Vec<(&'static str, Bound<'py, PyAny>)>;

fn repr_of(slf: &Bound<'_, PyAny>, fields: Fields<'_>) -> PyResult<String> {
    let name = slf.get_type().name()?;
    let mut s = format!("{name}(");
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(k);
        s.push('=');
        s.push_str(&v.repr()?.to_cow()?);
    }
    s.push(')');
    Ok(s)
}

fn eq_of<'py>(
    slf: &Bound<'py, PyAny>,
    other: &Bound<'py, PyAny>,
    mine: Fields<'py>,
    theirs: impl FnOnce() -> PyResult<Fields<'py>>,
) -> PyResult<Py<PyAny>> {
    let py = slf.py();
    if !slf.get_type().is(other.get_type()) {
        return Ok(py.NotImplemented());
    }
    let theirs = theirs()?;
    for ((_, a), (_, b)) in mine.iter().zip(theirs.iter()) {
        if !a.eq(b)? {
            return Ok(false.into_pyobject(py)?.to_owned().into_any().unbind());
        }
    }
    Ok(true.into_pyobject(py)?.to_owned().into_any().unbind())
}

fn hash_of(fields: Fields<'_>, py: Python<'_>) -> PyResult<isize> {
    let values: Vec<Bound<'_, PyAny>> = fields.into_iter().map(|(_, v)| v).collect();
    PyTuple::new(py, values)?.hash()
}

/// The initializer of a direct subclass of `Event`.
pub(crate) fn sub<T: pyo3::PyClass<BaseType = Event>>(v: T) -> PyClassInitializer<T> {
    PyClassInitializer::from(Event).add_subclass(v)
}

fn list_or_new(py: Python<'_>, v: Option<Py<PyAny>>) -> Py<PyAny> {
    v.unwrap_or_else(|| PyList::empty(py).into_any().unbind())
}

fn empty_bytes(py: Python<'_>) -> Py<PyAny> {
    PyBytes::new(py, b"").into_any().unbind()
}

/// Generates `__repr__`, `__eq__`, `__hash__` and `__match_args__` from a field list.
macro_rules! dataclass_methods {
    ($ty:ty, [$($field:ident),*], { $($body:tt)* }) => {
        impl $ty {
            fn fields<'py>(&self, py: Python<'py>) -> Fields<'py> {
                vec![$((stringify!($field), self.$field.bind(py).clone().into_any())),*]
            }
        }

        #[pymethods]
        impl $ty {
            $($body)*

            fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
                repr_of(slf.as_any(), slf.get().fields(slf.py()))
            }

            fn __eq__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
                let py = slf.py();
                eq_of(slf.as_any(), other, slf.get().fields(py), || {
                    let o = other.cast::<$ty>()?;
                    Ok(o.get().fields(py))
                })
            }

            fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
                hash_of(self.fields(py), py)
            }

            #[classattr]
            fn __match_args__(py: Python<'_>) -> PyResult<Py<PyTuple>> {
                Ok(PyTuple::new(py, [$(stringify!($field)),*])?.unbind())
            }
        }
    };
}

/// Base class of every event.
#[pyclass(subclass, frozen, module = "wsmachine._wsmachine")]
pub struct Event;

#[pymethods]
impl Event {
    #[new]
    fn new() -> Self {
        Event
    }
}

/// The opening handshake request: received by a server, sent by a client.
///
/// ``extra_headers`` are ``(name, value)`` byte pairs (received names are lowercase);
/// ``extensions`` and ``subprotocols`` are the offered names, in order.
#[pyclass(extends = Event, frozen, module = "wsmachine._wsmachine")]
pub struct Request {
    /// The Host header value.
    #[pyo3(get)]
    pub host: Py<PyAny>,
    /// The request target: path and query.
    #[pyo3(get)]
    pub target: Py<PyAny>,
    /// The offered extensions: received, the header elements (``str``); sent, ``Extension``
    /// objects (a ``PerMessageDeflate`` is offered, others are not).
    #[pyo3(get)]
    pub extensions: Py<PyAny>,
    /// Headers other than Host, Sec-WebSocket-Extensions and Sec-WebSocket-Protocol.
    #[pyo3(get)]
    pub extra_headers: Py<PyAny>,
    /// The offered subprotocols.
    #[pyo3(get)]
    pub subprotocols: Py<PyAny>,
}

dataclass_methods!(
    Request,
    [host, target, extensions, extra_headers, subprotocols],
    {
        #[new]
        #[pyo3(signature = (host, target, extensions=None, extra_headers=None, subprotocols=None))]
        fn new(
            py: Python<'_>,
            host: Py<PyAny>,
            target: Py<PyAny>,
            extensions: Option<Py<PyAny>>,
            extra_headers: Option<Py<PyAny>>,
            subprotocols: Option<Py<PyAny>>,
        ) -> PyClassInitializer<Self> {
            sub(Request {
                host,
                target,
                extensions: list_or_new(py, extensions),
                extra_headers: list_or_new(py, extra_headers),
                subprotocols: list_or_new(py, subprotocols),
            })
        }
    }
);

/// Acceptance of the upgrade: sent by a server, received by a client.
#[pyclass(extends = Event, frozen, module = "wsmachine._wsmachine")]
pub struct AcceptConnection {
    /// The chosen subprotocol, or ``None``.
    #[pyo3(get)]
    pub subprotocol: Py<PyAny>,
    /// Accepted extensions: sent, a ``PerMessageDeflate`` accepts permessage-deflate;
    /// received, the request's ``PerMessageDeflate`` when the server accepted it.
    #[pyo3(get)]
    pub extensions: Py<PyAny>,
    /// Extra response headers.
    #[pyo3(get)]
    pub extra_headers: Py<PyAny>,
}

dataclass_methods!(
    AcceptConnection,
    [subprotocol, extensions, extra_headers],
    {
        #[new]
        #[pyo3(signature = (subprotocol=None, extensions=None, extra_headers=None))]
        fn new(
            py: Python<'_>,
            subprotocol: Option<Py<PyAny>>,
            extensions: Option<Py<PyAny>>,
            extra_headers: Option<Py<PyAny>>,
        ) -> PyClassInitializer<Self> {
            sub(AcceptConnection {
                subprotocol: subprotocol.unwrap_or_else(|| py.None()),
                extensions: list_or_new(py, extensions),
                extra_headers: list_or_new(py, extra_headers),
            })
        }
    }
);

/// Refusal of the upgrade: the HTTP response's status and headers.
#[pyclass(extends = Event, frozen, module = "wsmachine._wsmachine")]
pub struct RejectConnection {
    /// The HTTP status.
    #[pyo3(get)]
    pub status_code: Py<PyAny>,
    /// The response headers.
    #[pyo3(get)]
    pub headers: Py<PyAny>,
    /// Whether ``RejectData`` events follow.
    #[pyo3(get)]
    pub has_body: Py<PyAny>,
}

dataclass_methods!(RejectConnection, [status_code, headers, has_body], {
    #[new]
    #[pyo3(signature = (status_code=400, headers=None, has_body=false))]
    fn new(
        py: Python<'_>,
        status_code: i64,
        headers: Option<Py<PyAny>>,
        has_body: bool,
    ) -> PyResult<PyClassInitializer<Self>> {
        let status_code = status_code.into_pyobject(py)?.into_any().unbind();
        let has_body = pybool(py, has_body);
        Ok(sub(RejectConnection {
            status_code,
            headers: list_or_new(py, headers),
            has_body,
        }))
    }
});

/// A piece of the body of a refusal response.
#[pyclass(extends = Event, frozen, module = "wsmachine._wsmachine")]
pub struct RejectData {
    /// The bytes.
    #[pyo3(get)]
    pub data: Py<PyAny>,
    /// Whether this is the last piece.
    #[pyo3(get)]
    pub body_finished: Py<PyAny>,
}

dataclass_methods!(RejectData, [data, body_finished], {
    #[new]
    #[pyo3(signature = (data, body_finished=true))]
    fn new(
        py: Python<'_>,
        data: Py<PyAny>,
        body_finished: bool,
    ) -> PyResult<PyClassInitializer<Self>> {
        let body_finished = pybool(py, body_finished);
        Ok(sub(RejectData {
            data,
            body_finished,
        }))
    }
});

/// A close frame (sent or received), or the end of the connection (code 1006).
#[pyclass(extends = Event, frozen, module = "wsmachine._wsmachine")]
pub struct CloseConnection {
    /// The close code (a ``CloseReason`` member when the code is registered).
    #[pyo3(get)]
    pub code: Py<PyAny>,
    /// The reason text, or ``None``.
    #[pyo3(get)]
    pub reason: Py<PyAny>,
}

dataclass_methods!(CloseConnection, [code, reason], {
    #[new]
    #[pyo3(signature = (code, reason=None))]
    fn new(py: Python<'_>, code: Py<PyAny>, reason: Option<Py<PyAny>>) -> PyClassInitializer<Self> {
        sub(CloseConnection {
            code,
            reason: reason.unwrap_or_else(|| py.None()),
        })
    }

    /// The close event to send back to the peer (same code and reason).
    fn response(&self, py: Python<'_>) -> PyResult<Py<CloseConnection>> {
        Py::new(
            py,
            sub(CloseConnection {
                code: self.code.clone_ref(py),
                reason: self.reason.clone_ref(py),
            }),
        )
    }
});

/// One chunk of a data message (base of ``TextMessage`` and ``BytesMessage``).
#[pyclass(extends = Event, subclass, frozen, module = "wsmachine._wsmachine")]
pub struct Message {
    /// The chunk: ``str`` for text, ``bytes`` for binary.
    #[pyo3(get)]
    pub data: Py<PyAny>,
    /// Last chunk of its frame.
    #[pyo3(get)]
    pub frame_finished: Py<PyAny>,
    /// Last chunk of the message.
    #[pyo3(get)]
    pub message_finished: Py<PyAny>,
}

impl Message {
    fn build(
        py: Python<'_>,
        data: Py<PyAny>,
        frame_finished: bool,
        message_finished: bool,
    ) -> Message {
        Message {
            data,
            frame_finished: pybool(py, frame_finished),
            message_finished: pybool(py, message_finished),
        }
    }
}

/// The initializer of a message event of the leaf class `T` (``TextMessage`` or
/// ``BytesMessage``).
fn message_init<T: pyo3::PyClass<BaseType = Message>>(
    py: Python<'_>,
    data: Py<PyAny>,
    frame_finished: bool,
    message_finished: bool,
    leaf: T,
) -> PyClassInitializer<T> {
    sub(Message::build(py, data, frame_finished, message_finished)).add_subclass(leaf)
}

dataclass_methods!(Message, [data, frame_finished, message_finished], {
    #[new]
    #[pyo3(signature = (data, frame_finished=true, message_finished=true))]
    fn new(
        py: Python<'_>,
        data: Py<PyAny>,
        frame_finished: bool,
        message_finished: bool,
    ) -> PyResult<PyClassInitializer<Self>> {
        Ok(sub(Message::build(
            py,
            data,
            frame_finished,
            message_finished,
        )))
    }

    /// ``Message[str]`` and the like work at run time, as for a generic dataclass.
    #[classmethod]
    fn __class_getitem__<'py>(
        cls: &Bound<'py, PyType>,
        item: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = cls.py();
        py.import("types")?
            .getattr("GenericAlias")?
            .call1((cls, item))
    }
});

/// A chunk of a text message; ``data`` is ``str`` (never split inside a code point).
#[pyclass(extends = Message, frozen, module = "wsmachine._wsmachine")]
pub struct TextMessage;

#[pymethods]
impl TextMessage {
    #[new]
    #[pyo3(signature = (data, frame_finished=true, message_finished=true))]
    fn new(
        py: Python<'_>,
        data: Py<PyAny>,
        frame_finished: bool,
        message_finished: bool,
    ) -> PyResult<PyClassInitializer<Self>> {
        Ok(message_init(
            py,
            data,
            frame_finished,
            message_finished,
            TextMessage,
        ))
    }
}

/// A chunk of a binary message; ``data`` is ``bytes``.
#[pyclass(extends = Message, frozen, module = "wsmachine._wsmachine")]
pub struct BytesMessage;

#[pymethods]
impl BytesMessage {
    #[new]
    #[pyo3(signature = (data, frame_finished=true, message_finished=true))]
    fn new(
        py: Python<'_>,
        data: Py<PyAny>,
        frame_finished: bool,
        message_finished: bool,
    ) -> PyResult<PyClassInitializer<Self>> {
        Ok(message_init(
            py,
            data,
            frame_finished,
            message_finished,
            BytesMessage,
        ))
    }
}

/// A ping: received, or to send. Answer a received one with ``response()``.
#[pyclass(extends = Event, frozen, module = "wsmachine._wsmachine")]
pub struct Ping {
    /// Up to 125 bytes.
    #[pyo3(get)]
    pub payload: Py<PyAny>,
}

dataclass_methods!(Ping, [payload], {
    #[new]
    #[pyo3(signature = (payload=None), text_signature = "(payload=b'')")]
    fn new(py: Python<'_>, payload: Option<Py<PyAny>>) -> PyClassInitializer<Self> {
        sub(Ping {
            payload: payload.unwrap_or_else(|| empty_bytes(py)),
        })
    }

    /// The pong that answers this ping (same payload).
    fn response(&self, py: Python<'_>) -> PyResult<Py<Pong>> {
        Py::new(
            py,
            sub(Pong {
                payload: self.payload.clone_ref(py),
            }),
        )
    }
});

/// A pong: received, or to send.
#[pyclass(extends = Event, frozen, module = "wsmachine._wsmachine")]
pub struct Pong {
    /// Up to 125 bytes.
    #[pyo3(get)]
    pub payload: Py<PyAny>,
}

dataclass_methods!(Pong, [payload], {
    #[new]
    #[pyo3(signature = (payload=None), text_signature = "(payload=b'')")]
    fn new(py: Python<'_>, payload: Option<Py<PyAny>>) -> PyClassInitializer<Self> {
        sub(Pong {
            payload: payload.unwrap_or_else(|| empty_bytes(py)),
        })
    }
});

// ---------------------------------------------------------------------------------------------
// Constructors used by the connection (no Python-level argument parsing).
// ---------------------------------------------------------------------------------------------

fn pybool(py: Python<'_>, b: bool) -> Py<PyAny> {
    pyo3::types::PyBool::new(py, b)
        .to_owned()
        .into_any()
        .unbind()
}

pub(crate) fn text_message(
    py: Python<'_>,
    data: Bound<'_, PyString>,
    frame_finished: bool,
    message_finished: bool,
) -> PyResult<Py<PyAny>> {
    let data = data.into_any().unbind();
    let init = message_init(py, data, frame_finished, message_finished, TextMessage);
    Ok(Py::new(py, init)?.into_any())
}

pub(crate) fn bytes_message(
    py: Python<'_>,
    data: &[u8],
    frame_finished: bool,
    message_finished: bool,
) -> PyResult<Py<PyAny>> {
    let data = PyBytes::new(py, data).into_any().unbind();
    let init = message_init(py, data, frame_finished, message_finished, BytesMessage);
    Ok(Py::new(py, init)?.into_any())
}

pub(crate) fn ping(py: Python<'_>, payload: &[u8]) -> PyResult<Py<PyAny>> {
    let p = PyBytes::new(py, payload).into_any().unbind();
    Ok(Py::new(py, sub(Ping { payload: p }))?.into_any())
}

pub(crate) fn pong(py: Python<'_>, payload: &[u8]) -> PyResult<Py<PyAny>> {
    let p = PyBytes::new(py, payload).into_any().unbind();
    Ok(Py::new(py, sub(Pong { payload: p }))?.into_any())
}

pub(crate) fn close(py: Python<'_>, code: Py<PyAny>, reason: Py<PyAny>) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, sub(CloseConnection { code, reason }))?.into_any())
}

pub(crate) fn reject_data(py: Python<'_>, data: &[u8], finished: bool) -> PyResult<Py<PyAny>> {
    let d = PyBytes::new(py, data).into_any().unbind();
    Ok(Py::new(
        py,
        sub(RejectData {
            data: d,
            body_finished: pybool(py, finished),
        }),
    )?
    .into_any())
}

pub(crate) fn reject_connection(
    py: Python<'_>,
    status: u16,
    headers: Py<PyAny>,
    has_body: bool,
) -> PyResult<Py<PyAny>> {
    Ok(Py::new(
        py,
        sub(RejectConnection {
            status_code: status.into_pyobject(py)?.into_any().unbind(),
            headers,
            has_body: pybool(py, has_body),
        }),
    )?
    .into_any())
}
