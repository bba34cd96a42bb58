// Draws every figure of an analysis page with the locally served Plotly.js; PNG from the
// modebar's camera, SVG from the visible button (Plotly.downloadImage).
(function () {
  "use strict";
  function draw(div) {
    var figure = JSON.parse(document.getElementById(div.dataset.figure).textContent);
    var filename = div.dataset.filename || "motorband-figure";
    // Nothing in the modebar leads off the server: no Plotly logo link, and no "Share chart..."
    // button, which this Plotly.js shows by default and which sends the figure's data (study
    // data) to Plotly's cloud.
    var config = {
      responsive: true,
      displaylogo: false,
      showSendToCloud: false,
      plotlyServerURL: "",
      modeBarButtonsToRemove: ["sendChartToCloud"],
      toImageButtonOptions: { format: "png", filename: filename, scale: 2 },
    };
    window.Plotly.newPlot(div, figure.data, figure.layout, config);
  }
  function init() {
    document.querySelectorAll("[data-figure]").forEach(draw);
    document.querySelectorAll("button.svg-download").forEach(function (button) {
      button.addEventListener("click", function () {
        var div = document.getElementById(button.dataset.plot);
        window.Plotly.downloadImage(div, {
          format: "svg",
          filename: div.dataset.filename || "motorband-figure",
        });
      });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
