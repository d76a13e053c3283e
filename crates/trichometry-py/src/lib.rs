//! The Python binding of trichometry: thin wrappers only. Every call converts
//! its arguments, runs the core with the GIL released (one helper, [`run`]),
//! and converts the result; core errors map to Python exceptions in one place
//! ([`to_py_err`]). The pure-Python layer (python/trichometry) builds the
//! result object from the JSON record and the maps handed over here.
#![deny(missing_docs)]

use numpy::ndarray::{ArrayD, IxDyn};
use numpy::{IntoPyArray, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use trichometry::{
    Calibration, ChartReference, ColourReference, Error, Image, ImageRef, Labels, Mask,
    NeutralReference, Params, Plane, RectPx, Samples, SamplesRef,
};

pyo3::create_exception!(
    _core,
    TrichometryError,
    PyValueError,
    "Base of trichometry's own errors (a ValueError)."
);
pyo3::create_exception!(
    _core,
    DecodeError,
    TrichometryError,
    "The bytes are not a decodable image: corrupt, truncated or empty."
);
pyo3::create_exception!(
    _core,
    UnsupportedImageError,
    TrichometryError,
    "The image format or pixel layout is not supported."
);
pyo3::create_exception!(
    _core,
    ImageLimitsError,
    TrichometryError,
    "The image exceeds the decoder limits (a guard against decompression bombs)."
);
pyo3::create_exception!(
    _core,
    ColourRequiredError,
    TrichometryError,
    "The measure needs a colour image but the image is greyscale."
);
pyo3::create_exception!(
    _core,
    CalibrationError,
    TrichometryError,
    "A colour reference (chart or neutral patch) could not be used."
);
pyo3::create_exception!(
    _core,
    RegistrationError,
    TrichometryError,
    "Two images could not be registered."
);

/// The one map from core errors to Python exceptions.
fn to_py_err(e: Error) -> PyErr {
    let msg = e.to_string();
    match e {
        Error::Io { path, source } => {
            let errno = source.raw_os_error().unwrap_or(0);
            let args = (errno, msg, path.display().to_string());
            if source.kind() == std::io::ErrorKind::NotFound {
                PyFileNotFoundError::new_err(args)
            } else {
                PyOSError::new_err(args)
            }
        }
        Error::Output { .. } => PyOSError::new_err(msg),
        Error::Parameter { .. } => PyValueError::new_err(msg),
        Error::Decoding(_) => DecodeError::new_err(msg),
        Error::Unsupported(_) => UnsupportedImageError::new_err(msg),
        Error::Limits(_) => ImageLimitsError::new_err(msg),
        Error::ColourRequired(_) => ColourRequiredError::new_err(msg),
        Error::Calibration(_) => CalibrationError::new_err(msg),
        Error::Registration(_) => RegistrationError::new_err(msg),
        _ => TrichometryError::new_err(msg),
    }
}

/// Run core work with the GIL released. A panic (a bug) becomes a
/// RuntimeError instead of a PanicException.
fn run<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> trichometry::Result<T> + Send,
{
    py.detach(|| std::panic::catch_unwind(AssertUnwindSafe(work)))
        .map_err(|payload| {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            PyRuntimeError::new_err(format!(
                "internal error in trichometry (a bug; please report it): {what}"
            ))
        })?
        .map_err(to_py_err)
}

/// An image argument: a path, or a uint8/uint16 array (H, W) or (H, W, 3).
#[derive(FromPyObject)]
enum ImageArg<'py> {
    U8(PyReadonlyArrayDyn<'py, u8>),
    U16(PyReadonlyArrayDyn<'py, u16>),
    Path(PathBuf),
}

/// Samples of an array argument: borrowed when C-contiguous, else copied.
enum Buf<'a> {
    U8(std::borrow::Cow<'a, [u8]>),
    U16(std::borrow::Cow<'a, [u16]>),
}

/// (width, height, channels).
type Layout = (usize, usize, usize);

fn shape_of(shape: &[usize], name: &str) -> PyResult<Layout> {
    match *shape {
        [h, w] => Ok((w, h, 1)),
        [h, w, 3] => Ok((w, h, 3)),
        _ => Err(PyValueError::new_err(format!(
            "{name}: expected an array of shape (H, W) or (H, W, 3), got {shape:?}"
        ))),
    }
}

impl ImageArg<'_> {
    /// Borrow or copy the samples with the (width, height, channels) layout.
    fn buffer(&self, name: &str) -> PyResult<Option<(Buf<'_>, Layout)>> {
        Ok(match self {
            ImageArg::Path(_) => None,
            ImageArg::U8(a) => {
                let layout = shape_of(a.shape(), name)?;
                let buf = match a.as_slice() {
                    Ok(s) => std::borrow::Cow::Borrowed(s),
                    Err(_) => std::borrow::Cow::Owned(a.as_array().iter().copied().collect()),
                };
                Some((Buf::U8(buf), layout))
            }
            ImageArg::U16(a) => {
                let layout = shape_of(a.shape(), name)?;
                let buf = match a.as_slice() {
                    Ok(s) => std::borrow::Cow::Borrowed(s),
                    Err(_) => std::borrow::Cow::Owned(a.as_array().iter().copied().collect()),
                };
                Some((Buf::U16(buf), layout))
            }
        })
    }
}

fn view<'a>(buf: &'a Buf<'_>, (w, h, c): Layout) -> trichometry::Result<ImageRef<'a>> {
    let samples = match buf {
        Buf::U8(s) => SamplesRef::U8(s),
        Buf::U16(s) => SamplesRef::U16(s),
    };
    ImageRef::new(w, h, c, samples)
}

/// An owned image for a calibration reference (a path is decoded).
fn owned_image(arg: &ImageArg<'_>, name: &str) -> PyResult<ImageSource> {
    Ok(match arg {
        ImageArg::Path(p) => ImageSource::Path(p.clone()),
        other => {
            let (buf, layout) = other.buffer(name)?.expect("array argument");
            ImageSource::Image(view(&buf, layout).map_err(to_py_err)?.to_owned_image())
        }
    })
}

/// A calibration image before decoding (decoded with the GIL released).
enum ImageSource {
    Path(PathBuf),
    Image(Image),
}

impl ImageSource {
    fn resolve(self) -> trichometry::Result<Image> {
        match self {
            ImageSource::Path(p) => trichometry::load(p),
            ImageSource::Image(i) => Ok(i),
        }
    }
}

fn parse_params(params: Option<&str>) -> PyResult<Params> {
    match params {
        None => Ok(Params::default()),
        Some(s) => serde_json::from_str(s)
            .map_err(|e| PyValueError::new_err(format!("invalid params: {e}"))),
    }
}

fn array2<'py, T: numpy::Element>(
    py: Python<'py>,
    w: usize,
    h: usize,
    data: Vec<T>,
) -> PyResult<Bound<'py, PyAny>> {
    let arr = ArrayD::from_shape_vec(IxDyn(&[h, w]), data)
        .map_err(|e| PyRuntimeError::new_err(format!("internal shape error: {e}")))?;
    Ok(arr.into_pyarray(py).into_any())
}

fn plane<'py>(py: Python<'py>, p: Plane) -> PyResult<Bound<'py, PyAny>> {
    array2(py, p.width, p.height, p.data)
}

fn mask<'py>(py: Python<'py>, m: Mask) -> PyResult<Bound<'py, PyAny>> {
    array2(py, m.width, m.height, m.data)
}

fn labels<'py>(py: Python<'py>, l: Labels) -> PyResult<Bound<'py, PyAny>> {
    array2(py, l.width, l.height, l.data)
}

/// Hand an image's samples to numpy without copying: (H, W) or (H, W, 3).
fn image_to_numpy<'py>(py: Python<'py>, image: Image) -> PyResult<Bound<'py, PyAny>> {
    let (w, h, c) = (image.width(), image.height(), image.channels());
    let dims = if c == 1 { vec![h, w] } else { vec![h, w, c] };
    let err = |e: numpy::ndarray::ShapeError| {
        PyRuntimeError::new_err(format!("internal shape error: {e}"))
    };
    Ok(match image.into_samples() {
        Samples::U8(v) => ArrayD::from_shape_vec(IxDyn(&dims), v)
            .map_err(err)?
            .into_pyarray(py)
            .into_any(),
        Samples::U16(v) => ArrayD::from_shape_vec(IxDyn(&dims), v)
            .map_err(err)?
            .into_pyarray(py)
            .into_any(),
    })
}

/// Decode an image file: a uint8 or uint16 array, (H, W, 3) or (H, W) for grey.
#[pyfunction]
fn load<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyAny>> {
    let image = run(py, || trichometry::load(&path))?;
    image_to_numpy(py, image)
}

/// Analyse one image. Returns the JSON record (a string), a dict of maps and
/// an [`AnalysisHandle`] (the image and core result, for `compare`).
#[pyfunction]
#[pyo3(signature = (image, *, um_per_px=None, chart=None, chart_corners=None, reference=None,
                    reference_rect=None, reference_lightness=50.0, colour_constancy=None,
                    params=None, analyzer=None))]
#[allow(clippy::too_many_arguments)]
fn analyze<'py>(
    py: Python<'py>,
    image: ImageArg<'py>,
    um_per_px: Option<f64>,
    chart: Option<ImageArg<'py>>,
    chart_corners: Option<Vec<f64>>,
    reference: Option<ImageArg<'py>>,
    reference_rect: Option<(usize, usize, usize, usize)>,
    reference_lightness: f64,
    colour_constancy: Option<String>,
    params: Option<&str>,
    analyzer: Option<PyRef<'py, Analyzer>>,
) -> PyResult<(String, Bound<'py, PyDict>, AnalysisHandle)> {
    let params = parse_params(params)?;
    let pool = analyzer.map(|a| Arc::clone(&a.0));
    // With an analyzer: its scratches (the same result as without).
    let analyze_one = move |image: ImageRef<'_>, cal: &Calibration, params: &Params| match &pool {
        Some(pool) => pool.analyze(image, cal, params),
        None => trichometry::analyze(image, cal, params),
    };
    // Colour reference: the same rules as the CLI's flags.
    let chart_set = chart.is_some() || chart_corners.is_some();
    let neutral_set = reference.is_some() || reference_rect.is_some();
    if [chart_set, neutral_set, colour_constancy.is_some()]
        .iter()
        .filter(|&&b| b)
        .count()
        > 1
    {
        return Err(PyValueError::new_err(
            "give only one colour reference: chart, reference or colour_constancy",
        ));
    }
    let corners = match chart_corners {
        None if chart_set => {
            return Err(PyValueError::new_err(
                "chart_corners is required with chart",
            ))
        }
        None => None,
        Some(v) if v.len() == 8 => Some([[v[0], v[1]], [v[2], v[3]], [v[4], v[5]], [v[6], v[7]]]),
        Some(v) => {
            return Err(PyValueError::new_err(format!(
                "chart_corners: expected 8 numbers x1, y1, ..., x4, y4, got {}",
                v.len()
            )))
        }
    };
    let chart_src = chart
        .as_ref()
        .map(|c| owned_image(c, "chart"))
        .transpose()?;
    let reference_src = reference
        .as_ref()
        .map(|r| owned_image(r, "reference"))
        .transpose()?;
    let rect = reference_rect.map(|(x, y, w, h)| RectPx { x, y, w, h });
    let constancy = match colour_constancy.as_deref() {
        None => false,
        Some("shades-of-gray") | Some("shades_of_gray") => true,
        Some(other) => {
            return Err(PyValueError::new_err(format!(
                "colour_constancy: unknown method {other:?} (expected 'shades-of-gray')"
            )))
        }
    };
    let buffer = image.buffer("image")?;
    let path = match &image {
        ImageArg::Path(p) => Some(p.clone()),
        _ => None,
    };

    let (analysed, maps) = run(py, move || {
        let colour = if let Some(corners_px) = corners {
            ColourReference::Chart(ChartReference {
                corners_px,
                image: chart_src.map(ImageSource::resolve).transpose()?,
            })
        } else if neutral_set {
            ColourReference::Neutral(NeutralReference {
                rect,
                lightness: reference_lightness,
                image: reference_src.map(ImageSource::resolve).transpose()?,
            })
        } else if constancy {
            ColourReference::ShadesOfGray
        } else {
            ColourReference::None
        };
        let calibration = Calibration { um_per_px, colour };
        calibration.validate()?;
        let (image, analysis) = match (&buffer, path) {
            (Some((buf, layout)), _) => {
                let image = view(buf, *layout)?;
                let a = analyze_one(image.clone(), &calibration, &params)?;
                (image.to_owned_image(), a)
            }
            (None, Some(p)) => {
                let image = trichometry::load(p)?;
                let a = analyze_one(image.view(), &calibration, &params)?;
                (image, a)
            }
            (None, None) => unreachable!("an image argument is a path or an array"),
        };
        // The handle keeps the core's maps for a later comparison; numpy gets
        // its own copy (the documented memory cost of keeping a result
        // comparable).
        let maps = analysis.maps.clone();
        Ok((Analysed { image, analysis }, maps))
    })?;

    let record = serde_json::to_string(&analysed.analysis)
        .map_err(|e| PyRuntimeError::new_err(format!("cannot serialise the result: {e}")))?;
    let handle = AnalysisHandle(Arc::new(analysed));
    let out = PyDict::new(py);
    let none = py.None();
    match maps.erythema {
        Some(e) => {
            out.set_item("a_star_map", plane(py, e.a_star)?)?;
            out.set_item("erythema_index_map", plane(py, e.erythema_index)?)?;
        }
        None => {
            out.set_item("a_star_map", &none)?;
            out.set_item("erythema_index_map", &none)?;
        }
    }
    let opt_mask = |m: Option<Mask>| -> PyResult<Bound<'py, PyAny>> {
        m.filter(|m| !m.data.is_empty())
            .map_or_else(|| Ok(py.None().into_bound(py)), |m| mask(py, m))
    };
    let opt_labels = |l: Option<Labels>| -> PyResult<Bound<'py, PyAny>> {
        l.filter(|l| !l.data.is_empty())
            .map_or_else(|| Ok(py.None().into_bound(py)), |l| labels(py, l))
    };
    out.set_item("skin_mask", opt_mask(Some(maps.skin_mask))?)?;
    out.set_item("glare_mask", opt_mask(Some(maps.glare_mask))?)?;
    out.set_item("hair_mask", opt_mask(maps.hair_mask)?)?;
    out.set_item("hair_labels", opt_labels(maps.hair_labels)?)?;
    out.set_item("scale_mask", opt_mask(maps.scale_mask)?)?;
    out.set_item("yellow_dot_mask", opt_mask(maps.yellow_dot_mask)?)?;
    out.set_item("vessel_mask", opt_mask(maps.vessel_mask)?)?;
    out.set_item("vessel_labels", opt_labels(maps.vessel_labels)?)?;
    Ok((record, out, handle))
}

/// Working memory kept between `analyze` calls (a core `ScratchPool`):
/// threads sharing one analyzer never share a scratch and never wait for
/// each other.
#[pyclass(frozen, module = "trichometry._core", name = "Analyzer")]
struct Analyzer(Arc<trichometry::ScratchPool>);

#[pymethods]
impl Analyzer {
    #[new]
    fn new() -> Self {
        Analyzer(Arc::default())
    }
    /// Bytes held between calls.
    #[getter]
    fn resident_bytes(&self) -> usize {
        self.0.resident_bytes()
    }
    /// Scratches kept (one per call that ran at the same time).
    #[getter]
    fn scratches(&self) -> usize {
        self.0.idle()
    }
    /// Free the memory held.
    fn clear(&self) {
        self.0.clear()
    }
}

/// An image and its core analysis, as `analyze` made them.
struct Analysed {
    image: Image,
    analysis: trichometry::Analysis,
}

/// An opaque handle on one analysis in Rust: the decoded image and the core
/// result with its maps, so that `compare` can use a result without
/// analysing the image again. Immutable; copying shares it.
#[pyclass(frozen, module = "trichometry._core", name = "AnalysisHandle")]
struct AnalysisHandle(Arc<Analysed>);

#[pymethods]
impl AnalysisHandle {
    /// The micrometres per pixel the analysis was made with (None without).
    #[getter]
    fn um_per_px(&self) -> Option<f64> {
        self.0.analysis.provenance.um_per_px
    }
    fn __copy__(slf: Py<Self>) -> Py<Self> {
        slf
    }
    fn __deepcopy__(slf: Py<Self>, _memo: Bound<'_, PyAny>) -> Py<Self> {
        slf
    }
    /// Pickling drops the handle (it unpickles as None): a pickled result
    /// keeps its record and maps but is no longer comparable.
    fn __reduce__<'py>(&self, py: Python<'py>) -> (Bound<'py, PyAny>, ()) {
        (py.None().into_bound(py).get_type().into_any(), ())
    }
    fn __repr__(&self) -> String {
        let s = &self.0.analysis.summary;
        format!(
            "<AnalysisHandle {}x{} um_per_px={:?}>",
            s.width_px, s.height_px, self.0.analysis.provenance.um_per_px
        )
    }
}

/// One visit's colour options, as the Python layer passes them:
/// (chart, chart_corners, reference, reference_rect, reference_lightness,
/// colour_constancy).
type ColourTuple<'py> = (
    Option<ImageArg<'py>>,
    Option<Vec<f64>>,
    Option<ImageArg<'py>>,
    Option<(usize, usize, usize, usize)>,
    f64,
    Option<String>,
);

/// A colour reference before its images are decoded.
enum ColourPrep {
    Chart([[f64; 2]; 4], Option<ImageSource>),
    Neutral(Option<RectPx>, f64, Option<ImageSource>),
    ShadesOfGray,
    None,
}

impl ColourPrep {
    fn from_tuple(t: Option<ColourTuple<'_>>, who: &str) -> PyResult<Self> {
        let Some((chart, corners, reference, rect, lightness, constancy)) = t else {
            return Ok(ColourPrep::None);
        };
        let chart_set = chart.is_some() || corners.is_some();
        let neutral_set = reference.is_some() || rect.is_some();
        if [chart_set, neutral_set, constancy.is_some()]
            .iter()
            .filter(|&&b| b)
            .count()
            > 1
        {
            return Err(PyValueError::new_err(format!(
                "{who}: give only one colour reference: chart, reference or colour_constancy"
            )));
        }
        if chart_set {
            let v = corners.ok_or_else(|| {
                PyValueError::new_err(format!("{who}: chart_corners is required with chart"))
            })?;
            if v.len() != 8 {
                return Err(PyValueError::new_err(format!(
                    "{who}: chart_corners: expected 8 numbers x1, y1, ..., x4, y4, got {}",
                    v.len()
                )));
            }
            let c = [[v[0], v[1]], [v[2], v[3]], [v[4], v[5]], [v[6], v[7]]];
            let img = chart
                .as_ref()
                .map(|c| owned_image(c, "chart"))
                .transpose()?;
            return Ok(ColourPrep::Chart(c, img));
        }
        if neutral_set {
            let img = reference
                .as_ref()
                .map(|r| owned_image(r, "reference"))
                .transpose()?;
            let rect = rect.map(|(x, y, w, h)| RectPx { x, y, w, h });
            return Ok(ColourPrep::Neutral(rect, lightness, img));
        }
        match constancy.as_deref() {
            None => Ok(ColourPrep::None),
            Some("shades-of-gray") | Some("shades_of_gray") => Ok(ColourPrep::ShadesOfGray),
            Some(other) => Err(PyValueError::new_err(format!(
                "{who}: colour_constancy: unknown method {other:?} (expected 'shades-of-gray')"
            ))),
        }
    }

    fn resolve(self) -> trichometry::Result<ColourReference> {
        Ok(match self {
            ColourPrep::Chart(corners_px, img) => ColourReference::Chart(ChartReference {
                corners_px,
                image: img.map(ImageSource::resolve).transpose()?,
            }),
            ColourPrep::Neutral(rect, lightness, img) => {
                ColourReference::Neutral(NeutralReference {
                    rect,
                    lightness,
                    image: img.map(ImageSource::resolve).transpose()?,
                })
            }
            ColourPrep::ShadesOfGray => ColourReference::ShadesOfGray,
            ColourPrep::None => ColourReference::None,
        })
    }
}

/// One side of a comparison as Python passes it: the handle of an analysed
/// result, or an image (path or array) to analyse.
#[derive(FromPyObject)]
enum SideArg<'py> {
    Analysed(Bound<'py, AnalysisHandle>),
    Image(ImageArg<'py>),
}

/// One side of a comparison, ready to leave the GIL.
enum Side {
    Analysed(Arc<Analysed>),
    Image(ImageSource, Box<ColourPrep>),
}

impl Side {
    /// Convert and check one side: a result must have been analysed with the
    /// comparison's scale and takes no colour options (it is calibrated).
    fn from_arg(
        arg: SideArg<'_>,
        colour: Option<ColourTuple<'_>>,
        um_per_px: f64,
        who: &str,
    ) -> PyResult<Self> {
        match arg {
            SideArg::Analysed(h) => {
                if colour.is_some() {
                    return Err(PyValueError::new_err(format!(
                        "{who}: colour options (chart, chart_corners, reference, reference_rect, \
                         reference_lightness, colour_constancy) cannot be applied to an analysed \
                         result: its colour was already calibrated by analyze(); give them to \
                         analyze(), or pass the image instead of the result"
                    )));
                }
                let a = Arc::clone(&h.get().0);
                let um = a.analysis.provenance.um_per_px;
                if um != Some(um_per_px) {
                    let um =
                        um.map_or_else(|| "no um_per_px".to_string(), |u| format!("um_per_px={u}"));
                    return Err(PyValueError::new_err(format!(
                        "{who}: the result was analysed with {um} but compare() was called with \
                         um_per_px={um_per_px}; analyse it again with the same um_per_px, or pass \
                         the image instead of the result"
                    )));
                }
                Ok(Side::Analysed(a))
            }
            SideArg::Image(img) => Ok(Side::Image(
                owned_image(&img, who)?,
                Box::new(ColourPrep::from_tuple(colour, who)?),
            )),
        }
    }

    /// The analysed side: a result as it is, an image decoded and analysed.
    fn resolve(self, um_per_px: f64, params: &Params) -> trichometry::Result<Arc<Analysed>> {
        match self {
            Side::Analysed(a) => Ok(a),
            Side::Image(src, colour) => {
                let cal = Calibration {
                    um_per_px: Some(um_per_px),
                    colour: colour.resolve()?,
                };
                cal.validate()?;
                let image = src.resolve()?;
                let analysis = trichometry::analyze(&image, &cal, params)?;
                Ok(Arc::new(Analysed { image, analysis }))
            }
        }
    }
}

/// The one comparison path of the binding (images and results alike):
/// analyse what is not analysed yet, compare, draw the overlay.
fn compare_sides(
    baseline: Side,
    followup: Side,
    um_per_px: f64,
    params: &Params,
    cparams: &trichometry::CompareParams,
    overlay: bool,
) -> trichometry::Result<(trichometry::Comparison, Option<Image>)> {
    // Each analysis is parallel inside; run them one after the other.
    let b = baseline.resolve(um_per_px, params)?;
    let f = followup.resolve(um_per_px, params)?;
    let cmp = trichometry::compare(
        &trichometry::Visit::new(&b.image, &b.analysis),
        &trichometry::Visit::new(&f.image, &f.analysis),
        cparams,
    )?;
    let over = if overlay {
        Some(trichometry::compare::overlay(&cmp, &b.image.view())?)
    } else {
        None
    };
    Ok((cmp, over))
}

/// Compare a follow-up with its baseline: analyse each side given as an
/// image (a result's handle is used as it is), register, match, deltas with
/// 95 % intervals. Returns the JSON record and a dict of maps
/// (`delta_a_star_map`, `shared_mask`, `overlap_mask`, `overlay`).
#[pyfunction]
#[pyo3(signature = (baseline, followup, *, um_per_px, baseline_colour=None, followup_colour=None,
                    params=None, compare_params=None, overlay=true))]
#[allow(clippy::too_many_arguments)]
fn compare<'py>(
    py: Python<'py>,
    baseline: SideArg<'py>,
    followup: SideArg<'py>,
    um_per_px: f64,
    baseline_colour: Option<ColourTuple<'py>>,
    followup_colour: Option<ColourTuple<'py>>,
    params: Option<&str>,
    compare_params: Option<&str>,
    overlay: bool,
) -> PyResult<(String, Bound<'py, PyDict>)> {
    let cparams: trichometry::CompareParams = match compare_params {
        None => trichometry::CompareParams::default(),
        Some(s) => serde_json::from_str(s)
            .map_err(|e| PyValueError::new_err(format!("invalid compare_params: {e}")))?,
    };
    let b = Side::from_arg(baseline, baseline_colour, um_per_px, "baseline")?;
    let f = Side::from_arg(followup, followup_colour, um_per_px, "followup")?;
    // Analysis parameters: an image beside a result is analysed like the
    // result was; explicit params must agree with every result's.
    let analysed: Vec<(&str, &Params)> = [("baseline", &b), ("followup", &f)]
        .into_iter()
        .filter_map(|(who, s)| match s {
            Side::Analysed(a) => Some((who, &a.analysis.provenance.params)),
            Side::Image(..) => None,
        })
        .collect();
    let params = match (params, analysed.first()) {
        (None, Some((_, p))) => (*p).clone(),
        (given, _) => {
            let p = parse_params(given)?;
            if let Some((who, _)) = analysed.iter().find(|(_, q)| **q != p) {
                return Err(PyValueError::new_err(format!(
                    "params differ from those the {who} result was analysed with; give params \
                     to analyze() instead (a result is not analysed again)"
                )));
            }
            p
        }
    };
    let (cmp, over) = run(py, move || {
        compare_sides(b, f, um_per_px, &params, &cparams, overlay)
    })?;
    let record = serde_json::to_string(&cmp)
        .map_err(|e| PyRuntimeError::new_err(format!("cannot serialise the result: {e}")))?;
    let out = PyDict::new(py);
    match cmp.maps.delta_a_star {
        Some(p) => out.set_item("delta_a_star_map", plane(py, p)?)?,
        None => out.set_item("delta_a_star_map", py.None())?,
    }
    out.set_item("shared_mask", mask(py, cmp.maps.shared)?)?;
    out.set_item("overlap_mask", mask(py, cmp.maps.overlap)?)?;
    match over {
        Some(img) => out.set_item("overlay", image_to_numpy(py, img)?)?,
        None => out.set_item("overlay", py.None())?,
    }
    Ok((record, out))
}

/// Render a phantom from a JSON scene spec (missing keys take defaults).
/// Returns the image array, the JSON truth + spec, and a dict of truth masks.
#[pyfunction]
fn synth<'py>(
    py: Python<'py>,
    spec: &str,
) -> PyResult<(Bound<'py, PyAny>, String, Bound<'py, PyDict>)> {
    let spec: trichometry::synth::SceneSpec = serde_json::from_str(spec)
        .map_err(|e| PyValueError::new_err(format!("invalid scene spec: {e}")))?;
    let phantom = run(py, move || trichometry::synth::render(&spec))?;
    let truth = serde_json::json!({ "spec": phantom.spec, "truth": phantom.truth });
    let truth = serde_json::to_string(&truth)
        .map_err(|e| PyRuntimeError::new_err(format!("cannot serialise the truth: {e}")))?;
    let masks = PyDict::new(py);
    masks.set_item("skin_mask", mask(py, phantom.truth.skin_mask)?)?;
    masks.set_item("glare_mask", mask(py, phantom.truth.glare_mask)?)?;
    Ok((image_to_numpy(py, phantom.image)?, truth, masks))
}

/// Reads the field names of a record type from its `Deserialize`
/// implementation (serde hands them to `deserialize_struct`), so that the
/// tables' columns follow the core's structs without a copy of their names.
struct FieldNames<'a>(&'a mut &'static [&'static str]);

impl<'de> serde::Deserializer<'de> for FieldNames<'_> {
    type Error = serde::de::value::Error;
    fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("not a struct"))
    }
    fn deserialize_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(serde::de::Error::custom("only the field names are read"))
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// The record fields of `T`, in declaration (= serialisation) order.
fn field_names<T: for<'de> serde::Deserialize<'de>>() -> Vec<&'static str> {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldNames(&mut fields));
    fields.to_vec()
}

/// The compiled core of the `trichometry` package.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(analyze, m)?)?;
    m.add_function(wrap_pyfunction!(compare, m)?)?;
    m.add_function(wrap_pyfunction!(synth, m)?)?;
    // The columns of the per-object tables, present even when a table has
    // no rows (an image without hairs still has a `diameter_um` column).
    let columns = PyDict::new(py);
    columns.set_item("hairs", field_names::<trichometry::hairs::HairShaft>())?;
    columns.set_item(
        "capillaries",
        field_names::<trichometry::vessels::Capillary>(),
    )?;
    columns.set_item("yellow_dots", field_names::<trichometry::YellowDot>())?;
    m.add("TABLE_COLUMNS", columns)?;
    m.add_class::<AnalysisHandle>()?;
    m.add_class::<Analyzer>()?;
    m.add("TrichometryError", py.get_type::<TrichometryError>())?;
    m.add("DecodeError", py.get_type::<DecodeError>())?;
    m.add(
        "UnsupportedImageError",
        py.get_type::<UnsupportedImageError>(),
    )?;
    m.add("ImageLimitsError", py.get_type::<ImageLimitsError>())?;
    m.add("ColourRequiredError", py.get_type::<ColourRequiredError>())?;
    m.add("CalibrationError", py.get_type::<CalibrationError>())?;
    m.add("RegistrationError", py.get_type::<RegistrationError>())?;
    Ok(())
}
