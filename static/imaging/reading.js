// Reading page: NiiVue (vendored, global `niivue`) on the scan's de-identified SWI, with view plane,
// minimum-intensity projection (computed by the server, ?minip=<slab mm>) and window/level controls.
(function () {
  "use strict";
  const canvas = document.getElementById("viewer");
  if (!canvas || typeof niivue === "undefined") return;
  const status = document.getElementById("viewer-status");
  const plane = document.getElementById("view-plane");
  const projection = document.getElementById("projection");
  const width = document.getElementById("window-width");
  const level = document.getElementById("window-level");
  const reset = document.getElementById("window-reset");
  const nv = new niivue.Niivue({
    backColor: [0, 0, 0, 1],
    show3Dcrosshair: false,
    crosshairWidth: 1,
    crosshairColor: [1, 0.3, 0.3, 0.5],
    isColorbar: false,
    loadingText: "Loading…",
  });
  let defaults = null; // the volume's automatic window: [min, max]

  function volume() {
    return nv.volumes.length ? nv.volumes[0] : null;
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
    const low = Number.isFinite(vol.global_min) ? vol.global_min : vol.cal_min;
    const high = Number.isFinite(vol.global_max) ? vol.global_max : vol.cal_max;
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
  }

  async function load() {
    const slab = projection.value;
    const keep = volume() && defaults ? [volume().cal_min, volume().cal_max] : null;
    const url = canvas.dataset.image + (slab ? "?minip=" + encodeURIComponent(slab) : "");
    status.textContent = "Loading the image…";
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
    status.textContent = slab ? "Minimum-intensity projection, " + slab + " mm slab." : "SWI.";
    canvas.dataset.loaded = "true";
  }

  nv.onIntensityChange = showWindow;
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
  nv.attachToCanvas(canvas).then(load);
})();
