// Draws each figure of the page: a <script type="application/json" class="figure"> after its <div class="plot">.
(function () {
  "use strict";
  if (typeof Plotly === "undefined") { return; }
  var narrow = window.matchMedia("(max-width: 640px)").matches;
  document.querySelectorAll("script.figure").forEach(function (node) {
    var target = node.previousElementSibling;
    var figure = JSON.parse(node.textContent);
    if (narrow && figure.layout && figure.layout.margin) { figure.layout.margin.l = Math.min(figure.layout.margin.l, 70); }
    Plotly.newPlot(target, figure.data, figure.layout, {responsive: true, displaylogo: false});
  });
})();
