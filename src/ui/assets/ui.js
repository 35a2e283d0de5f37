// The dashboard's only script: draws the uPlot charts described by `data-chart` elements (their figures
// are also in a table beside them, for readers without JavaScript) and redraws them after htmx swaps.
(() => {
  function draw(el) {
    if (el.dataset.drawn === '1' || typeof uPlot === 'undefined') return;
    const spec = JSON.parse(el.dataset.chart);
    el.dataset.drawn = '1';
    const colors = ['#2457c5', '#157f3b', '#b42318', '#a15c00', '#6941c6'];
    const series = [{}].concat(
      spec.series.map((label, i) => ({ label, stroke: colors[i % colors.length], width: 2 })),
    );
    const opts = {
      width: Math.max(300, el.clientWidth - 16),
      height: 180,
      series,
      axes: [{}, { size: 60 }],
      scales: { x: { time: true } },
    };
    new uPlot(opts, spec.data, el);
  }
  function drawAll(root) {
    for (const el of root.querySelectorAll('[data-chart]')) draw(el);
  }
  document.addEventListener('DOMContentLoaded', () => drawAll(document));
  document.addEventListener('htmx:afterSwap', (e) => drawAll(e.target));
  // Close the lineage drawer.
  document.addEventListener('click', (e) => {
    const t = e.target;
    if (t instanceof Element && t.matches('[data-close-drawer]')) {
      const d = document.getElementById('drawer');
      if (d) d.innerHTML = '';
      e.preventDefault();
    }
  });
})();
