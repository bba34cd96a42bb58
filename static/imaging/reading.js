// Reading page: the grading form (an outcome shows its own fields) and NiiVue (vendored, global
// `niivue`) on the scan's de-identified SWI, opened on the superior slab that holds the precentral
// gyrus, with view plane, minimum-intensity projection (computed by the server, ?minip=<slab mm>),
// window/level, zoom, crosshair toggle and the current slice number.
(function () {
  "use strict";

  // --- grading form: a graded read shows the grades, a non-diagnostic read its reason ----------
  // Fields of the other outcome are hidden and disabled (so not posted); without this script all
  // fields show and the server says which go with the outcome.
  function followOutcome(form) {
    const radios = form.querySelectorAll("input[type=radio][name$='outcome']");
    if (!radios.length) return;
    const reason = form.querySelector("select[name$='non_diagnostic_reason']");
    const detail = form.querySelector("[name$='non_diagnostic_detail']");
    function show(part, visible) {
      part.hidden = !visible;
      part.querySelectorAll("input, select, textarea").forEach(function (el) {
        el.disabled = !visible;
      });
    }
    function apply() {
      const chosen = form.querySelector("input[type=radio][name$='outcome']:checked");
      const outcome = chosen ? chosen.value : "graded";
      form.querySelectorAll("[data-part]").forEach(function (part) {
        show(part, part.dataset.part === outcome);
      });
      if (outcome === "non_diagnostic" && reason && detail) {
        const wrapper = detail.closest("[data-part]");
        if (wrapper) show(wrapper, reason.value === "other"); // disabled: not posted otherwise
      }
    }
    radios.forEach(function (radio) {
      radio.addEventListener("change", apply);
    });
    if (reason) reason.addEventListener("change", apply);
    apply();
  }
  document
    .querySelectorAll("form[aria-label='Grading'], form[aria-label='Correction']")
    .forEach(followOutcome);

  // --- viewer ----------------------------------------------------------------------------------
  const canvas = document.getElementById("viewer");
  if (!canvas || typeof niivue === "undefined") return;
  const status = document.getElementById("viewer-status");
  const plane = document.getElementById("view-plane");
  const projection = document.getElementById("projection");
  const width = document.getElementById("window-width");
  const level = document.getElementById("window-level");
  const reset = document.getElementById("window-reset");
  const sliceNumber = document.getElementById("slice-number");
  const crosshair = document.getElementById("crosshair");
  const zoomValue = document.getElementById("zoom-value");

  // The hand knob of the precentral gyrus lies in the superior quarter of the head: the viewer
  // opens at this fraction of the head's inferior-superior extent (MotorBand's choice; the head is
  // the run of axial slices holding enough voxels above HEAD_THRESHOLD of the robust intensity
  // range, so background noise and an empty field of view above the vertex do not count).
  const MOTOR_SLAB_FRACTION = 0.78;
  const HEAD_THRESHOLD = 0.3;
  const HEAD_MIN_SHARE = 0.005;
  const CROSSHAIR_WIDTH = 0.5; // voxels
  const ZOOM_STEP = 1.25;
  const ZOOM_MIN = 1;
  const ZOOM_MAX = 8;
  const AXES = { sagittal: 0, coronal: 1, axial: 2, multiplanar: 2 };
  const AXIS_NAMES = ["Sagittal", "Coronal", "Axial"];

  const nv = new niivue.Niivue({
    backColor: [0, 0, 0, 1],
    show3Dcrosshair: false,
    crosshairWidth: CROSSHAIR_WIDTH,
    crosshairColor: [1, 0.3, 0.3, 0.7],
    isColorbar: false,
    loadingText: "Loading…",
  });
  let defaults = null; // the volume's automatic window: [min, max]
  let motorSlice = null; // axial slice (0-based, RAS order) of the precentral slab

  function volume() {
    return nv.volumes.length ? nv.volumes[0] : null;
  }

  function finite(value, fallback) {
    return Number.isFinite(value) ? value : fallback;
  }

  // The axial slice at MOTOR_SLAB_FRACTION of the head's extent (0-based, inferior first).
  function findMotorSlice(vol) {
    const nx = vol.dimsRAS[1];
    const ny = vol.dimsRAS[2];
    const nz = vol.dimsRAS[3];
    const img = vol.img2RAS();
    const low = finite(vol.robust_min, vol.global_min);
    const high = finite(vol.robust_max, vol.global_max);
    const slope = vol.hdr.scl_slope || 1;
    const inter = vol.hdr.scl_inter || 0;
    const cut = (low + HEAD_THRESHOLD * (high - low) - inter) / slope; // in stored units
    const perSlice = nx * ny;
    const needed = Math.max(1, HEAD_MIN_SHARE * perSlice);
    let first = -1;
    let last = -1;
    for (let z = 0; z < nz; z++) {
      let count = 0;
      const offset = z * perSlice;
      for (let i = 0; i < perSlice; i++) {
        if (slope > 0 ? img[offset + i] > cut : img[offset + i] < cut) count++;
      }
      if (count >= needed) {
        if (first < 0) first = z;
        last = z;
      }
    }
    if (first < 0) {
      first = 0;
      last = nz - 1;
    }
    return Math.round(first + MOTOR_SLAB_FRACTION * (last - first));
  }

  function goToAxialSlice(z) {
    const vol = volume();
    if (!vol || z === null) return;
    nv.scene.crosshairPos[2] = (z + 0.5) / vol.dimsRAS[3];
    nv.drawScene();
    nv.createOnLocationChange();
    showSlice();
  }

  function showSlice() {
    const vol = volume();
    if (!vol) return;
    const axis = AXES[plane.value] ?? 2;
    const n = vol.dimsRAS[axis + 1];
    const index = Math.min(n - 1, Math.max(0, Math.floor(nv.scene.crosshairPos[axis] * n)));
    sliceNumber.textContent = AXIS_NAMES[axis] + " slice " + (index + 1) + " / " + n;
    sliceNumber.dataset.slice = String(index + 1);
    sliceNumber.dataset.slices = String(n);
    sliceNumber.dataset.axis = AXIS_NAMES[axis].toLowerCase();
  }

  function zoom() {
    return nv.scene.pan2Dxyzmm[3];
  }

  // Zoom about the crosshair (as NiiVue's own wheel zoom does), within ZOOM_MIN..ZOOM_MAX.
  function setZoom(value) {
    const pan = nv.scene.pan2Dxyzmm;
    const next = Math.min(ZOOM_MAX, Math.max(ZOOM_MIN, value));
    if (next <= ZOOM_MIN) {
      nv.setPan2Dxyzmm([0, 0, 0, ZOOM_MIN]);
    } else {
      const change = pan[3] - next;
      const mm = nv.frac2mm(nv.scene.crosshairPos);
      nv.setPan2Dxyzmm([
        pan[0] + change * mm[0],
        pan[1] + change * mm[1],
        pan[2] + change * mm[2],
        next,
      ]);
    }
    zoomValue.textContent = Math.round(zoom() * 100) + "%";
    canvas.dataset.zoom = String(zoom());
  }

  function showWindow() {
    const vol = volume();
    if (!vol) return;
    width.value = String(vol.cal_max - vol.cal_min);
    level.value = String((vol.cal_max + vol.cal_min) / 2);
  }

  function applyWindow() {
    const vol = volume();
    if (!vol) return;
    const w = Math.max(Number(width.value), 1e-6);
    const l = Number(level.value);
    vol.cal_min = l - w / 2;
    vol.cal_max = l + w / 2;
    nv.updateGLVolume();
  }

  function setRanges() {
    const vol = volume();
    const low = finite(vol.global_min, vol.cal_min);
    const high = finite(vol.global_max, vol.cal_max);
    const span = Math.max(high - low, 1e-6);
    width.min = String(span / 1000);
    width.max = String(span);
    level.min = String(low);
    level.max = String(high);
  }

  function setPlane() {
    const types = {
      axial: nv.sliceTypeAxial,
      coronal: nv.sliceTypeCoronal,
      sagittal: nv.sliceTypeSagittal,
      multiplanar: nv.sliceTypeMultiplanar,
    };
    nv.setSliceType(types[plane.value]);
    showSlice();
  }

  async function load() {
    const slab = projection.value;
    const vol0 = volume();
    // A new projection keeps the window, the position and the zoom of the one it replaces.
    const keep = vol0 && defaults ? [vol0.cal_min, vol0.cal_max] : null;
    const position = vol0 ? Array.from(nv.scene.crosshairPos) : null;
    const pan = vol0 ? Array.from(nv.scene.pan2Dxyzmm) : null;
    const url = canvas.dataset.image + (slab ? "?minip=" + encodeURIComponent(slab) : "");
    status.textContent = "Loading the image…";
    canvas.dataset.loaded = "false";
    try {
      await nv.loadVolumes([{ url: url, name: canvas.dataset.name, colormap: "gray" }]);
    } catch (error) {
      status.textContent = "The image could not be loaded: " + error;
      return;
    }
    const vol = volume();
    if (!defaults) defaults = [vol.cal_min, vol.cal_max];
    if (keep) {
      vol.cal_min = keep[0];
      vol.cal_max = keep[1];
      nv.updateGLVolume();
    }
    setRanges();
    showWindow();
    setPlane();
    if (position) {
      for (let i = 0; i < 3; i++) nv.scene.crosshairPos[i] = position[i];
      nv.setPan2Dxyzmm(pan);
      nv.createOnLocationChange();
      showSlice();
    } else {
      motorSlice = findMotorSlice(vol);
      sliceNumber.dataset.motorSlice = String(motorSlice + 1);
      goToAxialSlice(motorSlice);
    }
    status.textContent = slab ? "Minimum-intensity projection, " + slab + " mm slab." : "SWI.";
    canvas.dataset.loaded = "true";
  }

  nv.onIntensityChange = showWindow;
  nv.onLocationChange = showSlice;
  plane.addEventListener("change", setPlane);
  projection.addEventListener("change", load);
  width.addEventListener("input", applyWindow);
  level.addEventListener("input", applyWindow);
  reset.addEventListener("click", function () {
    const vol = volume();
    if (!vol || !defaults) return;
    vol.cal_min = defaults[0];
    vol.cal_max = defaults[1];
    nv.updateGLVolume();
    showWindow();
  });
  document.getElementById("zoom-in").addEventListener("click", function () {
    setZoom(zoom() * ZOOM_STEP);
  });
  document.getElementById("zoom-out").addEventListener("click", function () {
    setZoom(zoom() / ZOOM_STEP);
  });
  document.getElementById("zoom-reset").addEventListener("click", function () {
    setZoom(ZOOM_MIN);
  });
  document.getElementById("slice-home").addEventListener("click", function () {
    goToAxialSlice(motorSlice);
  });
  crosshair.addEventListener("change", function () {
    nv.setCrosshairWidth(crosshair.checked ? CROSSHAIR_WIDTH : 0);
  });
  // Ctrl (or Cmd) + wheel zooms; a plain wheel keeps moving through slices (NiiVue's own).
  canvas.addEventListener(
    "wheel",
    function (event) {
      if (!event.ctrlKey && !event.metaKey) return;
      event.preventDefault();
      event.stopImmediatePropagation();
      setZoom(zoom() * (event.deltaY < 0 ? ZOOM_STEP : 1 / ZOOM_STEP));
    },
    { capture: true, passive: false },
  );
  nv.attachToCanvas(canvas).then(load);
})();
