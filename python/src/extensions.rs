//! Extensions other than permessage-deflate (a user's `Extension` subclasses), negotiated
//! as wsproto negotiates them: a client offers what each object's `offer()` returns and
//! calls `finalize(element)` with the server's response element of that name; a server
//! calls `accept(element)` for each request element of an object's name and answers with
//! what it returns. The core writes the elements and checks that a server only accepts what
//! was offered. Their frame hooks are not called: the core frames every message itself, so
//! such an extension cannot claim RSV bits or transform payloads, and one that overrides a
//! frame hook is not negotiated at all (with a `RuntimeWarning`).

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyString};

use crate::deflate as pmd;

static NEGOTIABLE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `wsmachine.wsproto.extensions._negotiable`: whether an extension leaves the frame hooks
/// alone (else it warns, and the extension is left out).
fn negotiable(py: Python<'_>, ext: &Bound<'_, PyAny>) -> PyResult<bool> {
    let f = NEGOTIABLE.get_or_try_init(py, || {
        Ok::<_, PyErr>(
            py.import("wsmachine.wsproto.extensions")?
                .getattr("_negotiable")?
                .unbind(),
        )
    })?;
    f.bind(py).call1((ext,))?.is_truthy()
}

/// The objects of an `extensions` list (`None`: none) to negotiate here: not the
/// `PerMessageDeflate`s (the core negotiates those), nor extensions with frame hooks of their
/// own (which the engine cannot call; `_negotiable` warns about them).
pub(crate) fn others<'py>(
    py: Python<'py>,
    extensions: &Bound<'py, PyAny>,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let mut out = Vec::new();
    if extensions.is_none() {
        return Ok(out);
    }
    for e in extensions.try_iter()? {
        let e = e?;
        if !pmd::is_pmd(py, &e)? && negotiable(py, &e)? {
            out.push(e);
        }
    }
    Ok(out)
}

fn name_of(ext: &Bound<'_, PyAny>) -> PyResult<String> {
    ext.getattr("name")?.extract()
}

/// The extension name of a Sec-WebSocket-Extensions element (`x` in `x; a=1`).
pub(crate) fn element_name(element: &str) -> &str {
    element.split(';').next().unwrap_or_default().trim()
}

/// The element for the answer of `offer()` / `accept()`: `True` is the name alone, a string
/// the name and those parameters (an empty one: the name alone), `False` / `None` nothing.
fn element(name: &str, answer: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    if answer.is_none() {
        return Ok(None);
    }
    if let Ok(b) = answer.cast::<PyBool>() {
        return Ok(b.is_true().then(|| name.to_owned()));
    }
    let params: String = answer.cast::<PyString>()?.extract()?;
    Ok(Some(if params.is_empty() {
        name.to_owned()
    } else {
        format!("{name}; {params}")
    }))
}

/// Keeps one element per name, in the order names first appear, the last answer winning (a
/// name given twice is answered once, as wsproto's dictionary of answers does).
fn put(list: &mut Vec<(String, Option<String>)>, name: &str, element: Option<String>) {
    match list.iter_mut().find(|(n, _)| n == name) {
        Some(slot) => slot.1 = element,
        None => list.push((name.to_owned(), element)),
    }
}

/// Client: the offer elements of `exts`, in order.
pub(crate) fn client_offers(exts: &[Bound<'_, PyAny>]) -> PyResult<Vec<String>> {
    let mut offers = Vec::new();
    for e in exts {
        let name = name_of(e)?;
        let answer = e.call_method0("offer")?;
        put(&mut offers, &name, element(&name, &answer)?);
    }
    Ok(offers.into_iter().filter_map(|(_, e)| e).collect())
}

/// Client: the object the server's response element `element` is for, after its
/// `finalize(element)` ran; `None` when no object has that name.
pub(crate) fn finalize(
    py: Python<'_>,
    exts: &[Py<PyAny>],
    element: &str,
) -> PyResult<Option<Py<PyAny>>> {
    let name = element_name(element);
    for e in exts {
        let e = e.bind(py);
        if name_of(e)? == name {
            e.call_method1("finalize", (element,))?;
            return Ok(Some(e.clone().unbind()));
        }
    }
    Ok(None)
}

/// Server: the response elements for the request's elements `offers`, from the `accept`
/// answers of `exts`.
pub(crate) fn server_accepts(exts: &[Bound<'_, PyAny>], offers: &[Vec<u8>]) -> PyResult<String> {
    let mut accepts = Vec::new();
    if exts.is_empty() {
        return Ok(String::new());
    }
    for offer in offers {
        let offer = String::from_utf8_lossy(offer);
        let name = element_name(&offer);
        for e in exts {
            if name_of(e)? == name {
                let answer = e.call_method1("accept", (offer.as_ref(),))?;
                if let Some(el) = element(name, &answer)? {
                    put(&mut accepts, name, Some(el));
                }
            }
        }
    }
    let elements: Vec<String> = accepts.into_iter().filter_map(|(_, e)| e).collect();
    Ok(elements.join(", "))
}
