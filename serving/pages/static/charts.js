/* Small SVG charts drawn at the container's own pixel width (so text stays readable on a phone) and redrawn
   when the window is resized. Colours come from classes in app.css; nothing sets inline styles. Hand-written
   because no chart library is shipped: a bundle would add ~200 kB to every page for a few bar and line charts. */
"use strict";
(function () {
  const NS = "http://www.w3.org/2000/svg";
  const drawn = new Map();

  function svgEl(tag, attrs, text) {
    const node = document.createElementNS(NS, tag);
    Object.entries(attrs || {}).forEach(function ([k, v]) { node.setAttribute(k, String(v)); });
    if (text !== undefined) { node.textContent = String(text); }
    return node;
  }

  function canvas(container, height, label, fixedWidth) {
    CA.clear(container);
    const width = fixedWidth || Math.max(280, Math.floor(container.clientWidth || 600));
    const svg = svgEl("svg", { viewBox: "0 0 " + width + " " + height, width: width, height: height, role: "img", "aria-label": label });
    svg.appendChild(svgEl("title", {}, label));
    container.appendChild(svg);
    return { svg: svg, width: width, height: height };
  }

  /* The width charts were last drawn for, on <html data-charts-width>, so tests can wait for a redraw. */
  function mark() { document.documentElement.setAttribute("data-charts-width", String(window.innerWidth)); }

  function remember(container, draw) {
    drawn.set(container, draw);
    draw();
    mark();
  }

  function niceMax(x) {
    if (!(x > 0)) { return 1; }
    const p = Math.pow(10, Math.floor(Math.log10(x)));
    const m = x / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }

  function short(x) {
    const a = Math.abs(x);
    if (a >= 1e6) { return (x / 1e6).toFixed(a >= 1e7 ? 0 : 1) + "M"; }
    if (a >= 1e3) { return (x / 1e3).toFixed(a >= 1e4 ? 0 : 1) + "k"; }
    return String(Math.round(x * 100) / 100);
  }

  /* Horizontal paired bars: current and recommended funding per programme. */
  function pairedBars(container, rows, label) {
    remember(container, function () {
      const rowH = 26, top = 24, left = 64, right = 16;
      const c = canvas(container, top + rows.length * rowH + 8, label);
      const max = niceMax(Math.max.apply(null, rows.map(function (r) { return Math.max(r.current, r.recommended); })));
      const x = function (v) { return left + (c.width - left - right) * v / max; };
      for (let i = 0; i <= 4; i += 1) {
        const v = max * i / 4;
        c.svg.appendChild(svgEl("line", { class: "grid-line", x1: x(v), x2: x(v), y1: top - 4, y2: c.height - 4 }));
        c.svg.appendChild(svgEl("text", { x: x(v), y: 14, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle" }, short(v)));
      }
      rows.forEach(function (r, i) {
        const y = top + i * rowH;
        c.svg.appendChild(svgEl("text", { x: left - 6, y: y + 15, "text-anchor": "end" }, r.label));
        c.svg.appendChild(svgEl("rect", { class: "bar-current", x: left, y: y + 2, height: 10, width: Math.max(0, x(r.current) - left) }));
        c.svg.appendChild(svgEl("rect", { class: "bar-recommended", x: left, y: y + 12, height: 10, width: Math.max(0, x(r.recommended) - left) }));
      });
    });
  }

  /* Diverging horizontal bars around zero, sorted by value (largest increase first): rows [{label, value,
     title}], spec {label, axisTitle, format (of the axis ticks; default 12k, 1.5M)}. Every bar carries its own title (the hover
     text); with many rows the bars thin out and only the labels that fit are drawn. */
  function divergingBars(container, rows, spec) {
    remember(container, function () {
      const sorted = rows.slice().sort(function (a, b) { return b.value - a.value || String(a.label).localeCompare(String(b.label)); });
      const rowH = sorted.length > 60 ? Math.max(2, Math.floor(1200 / sorted.length)) : 22;
      const top = 24, bottom = 40;
      const c = canvas(container, top + sorted.length * rowH + bottom, spec.label);
      const labelW = Math.min(90, Math.floor(c.width * 0.2));
      const left = labelW + 4, right = 12;
      const max = niceMax(Math.max.apply(null, sorted.map(function (r) { return Math.abs(r.value); })));
      const x = function (v) { return left + (c.width - left - right) * (v + max) / (2 * max); };
      const plotBottom = top + sorted.length * rowH;
      [-1, -0.5, 0, 0.5, 1].forEach(function (f) {
        const v = max * f;
        c.svg.appendChild(svgEl("line", { class: f === 0 ? "axis" : "grid-line", x1: x(v), x2: x(v), y1: top - 4, y2: plotBottom }));
        if (f === -0.5 || f === 0.5) { if (c.width < 420) { return; } }
        c.svg.appendChild(svgEl("text", { x: x(v), y: 14, "text-anchor": f === -1 ? "start" : f === 1 ? "end" : "middle" },
          (v > 0 ? "+" : "") + (spec.format || short)(v)));
      });
      const fragment = document.createDocumentFragment();
      const everyLabel = rowH >= 12 ? 1 : Math.ceil(12 / rowH);
      sorted.forEach(function (r, i) {
        const y = top + i * rowH;
        const w = Math.abs(x(r.value) - x(0));
        const bar = svgEl("rect", { class: r.value >= 0 ? "bar-gain" : "bar-cut", x: r.value >= 0 ? x(0) : x(0) - w,
          y: y + Math.min(3, rowH * 0.15), width: Math.max(1, w), height: Math.max(1, rowH - 2 * Math.min(3, rowH * 0.15)),
          "data-label": r.label, "data-value": r.value });
        bar.appendChild(svgEl("title", {}, r.title));
        fragment.appendChild(bar);
        if (i % everyLabel === 0) {
          fragment.appendChild(svgEl("text", { x: labelW, y: y + rowH / 2 + 4, "text-anchor": "end" }, fit(String(r.label), Math.floor(labelW / 6.2))));
        }
      });
      c.svg.appendChild(fragment);
      c.svg.appendChild(svgEl("text", { class: "axis-title", x: (left + c.width - right) / 2, y: c.height - 12, "text-anchor": "middle" }, spec.axisTitle));
    });
  }

  /* One programme's outcome curve: interval band, observed range shaded, current (open) and recommended (filled). */
  function outcomeCurve(container, spec) {
    remember(container, function () {
      const c = canvas(container, 190, spec.label);
      const m = { l: 44, r: 10, t: 10, b: 30 };
      const pts = spec.points;
      const xmax = Math.max.apply(null, pts.map(function (p) { return p.funding; })) || 1;
      const ymax = niceMax(Math.max.apply(null, pts.map(function (p) { return p.upper; })));
      const x = function (v) { return m.l + (c.width - m.l - m.r) * v / xmax; };
      const y = function (v) { return c.height - m.b - (c.height - m.t - m.b) * v / ymax; };
      c.svg.appendChild(svgEl("rect", { class: "observed", x: x(spec.observedMin), y: m.t, width: Math.max(1, x(spec.observedMax) - x(spec.observedMin)), height: c.height - m.t - m.b }));
      const band = pts.map(function (p) { return x(p.funding) + "," + y(p.upper); }).concat(
        pts.slice().reverse().map(function (p) { return x(p.funding) + "," + y(p.lower); }));
      c.svg.appendChild(svgEl("polygon", { class: "band", points: band.join(" ") }));
      c.svg.appendChild(svgEl("polyline", { class: "line", points: pts.map(function (p) { return x(p.funding) + "," + y(p.value); }).join(" ") }));
      c.svg.appendChild(svgEl("line", { class: "axis", x1: m.l, x2: c.width - m.r, y1: c.height - m.b, y2: c.height - m.b }));
      c.svg.appendChild(svgEl("line", { class: "axis", x1: m.l, x2: m.l, y1: m.t, y2: c.height - m.b }));
      [0, 0.5, 1].forEach(function (f) {
        c.svg.appendChild(svgEl("text", { x: m.l - 4, y: y(ymax * f) + 4, "text-anchor": "end" }, short(ymax * f)));
        c.svg.appendChild(svgEl("text", { x: x(xmax * f), y: c.height - 12, "text-anchor": f === 0 ? "start" : f === 1 ? "end" : "middle" }, short(xmax * f)));
      });
      c.svg.appendChild(svgEl("circle", { class: "point-current", cx: x(spec.current), cy: y(spec.currentValue), r: 5 }));
      c.svg.appendChild(svgEl("circle", { class: "point-recommended", cx: x(spec.recommended), cy: y(spec.recommendedValue), r: 4 }));
    });
  }

  /* A KPI over periods: the measured value with its interval as a band, and where a plan forecast the period, its
     forecast as a hollow square with the forecast interval as a whisker. spec: {label, unit, periods: [{period,
     value, lower, upper, forecast, forecastLower, forecastUpper}], share (values are shares of 1)}. */
  function trend(container, spec) {
    remember(container, function () {
      const c = canvas(container, 170, spec.label);
      const m = { l: 58, r: 12, t: 12, b: 34 };
      const pts = spec.periods;
      const highs = pts.map(function (p) { return Math.max(p.upper || 0, p.value || 0, p.forecastUpper || 0); });
      const ymax = spec.share ? Math.min(1, niceMax(Math.max.apply(null, highs))) : niceMax(Math.max.apply(null, highs));
      const step = (c.width - m.l - m.r) / Math.max(1, pts.length - 1);
      const x = function (i) { return pts.length === 1 ? (m.l + c.width - m.r) / 2 : m.l + step * i; };
      const y = function (v) { return c.height - m.b - (c.height - m.t - m.b) * Math.min(v, ymax) / ymax; };
      const measured = pts.map(function (p, i) { return [i, p]; }).filter(function (e) { return e[1].value !== null; });
      if (measured.length) {
        const band = measured.map(function (e) { return x(e[0]) + "," + y(e[1].upper === null ? e[1].value : e[1].upper); }).concat(
          measured.slice().reverse().map(function (e) { return x(e[0]) + "," + y(e[1].lower === null ? e[1].value : e[1].lower); }));
        c.svg.appendChild(svgEl("polygon", { class: "band", points: band.join(" ") }));
        c.svg.appendChild(svgEl("polyline", { class: "line", points: measured.map(function (e) { return x(e[0]) + "," + y(e[1].value); }).join(" ") }));
        measured.forEach(function (e) {
          const dot = svgEl("circle", { class: "point-recommended", cx: x(e[0]), cy: y(e[1].value), r: 3 });
          dot.appendChild(svgEl("title", {}, e[1].period + ": " + spec.format(e[1].value)));
          c.svg.appendChild(dot);
        });
      }
      pts.forEach(function (p, i) {
        if (p.forecast === null || p.forecast === undefined) { return; }
        c.svg.appendChild(svgEl("line", { class: "whisker", x1: x(i), x2: x(i), y1: y(p.forecastLower), y2: y(p.forecastUpper) }));
        const mark = svgEl("rect", { class: "forecast-mark", x: x(i) - 4, y: y(p.forecast) - 4, width: 8, height: 8 });
        mark.appendChild(svgEl("title", {}, p.period + " plan forecast: " + spec.format(p.forecast) + " (" +
          spec.format(p.forecastLower) + "–" + spec.format(p.forecastUpper) + ")"));
        c.svg.appendChild(mark);
      });
      c.svg.appendChild(svgEl("line", { class: "axis", x1: m.l, x2: c.width - m.r, y1: c.height - m.b, y2: c.height - m.b }));
      c.svg.appendChild(svgEl("line", { class: "axis", x1: m.l, x2: m.l, y1: m.t, y2: c.height - m.b }));
      [0, 0.5, 1].forEach(function (f) {
        c.svg.appendChild(svgEl("text", { x: m.l - 4, y: y(ymax * f) + 4, "text-anchor": "end" }, spec.format(ymax * f)));
      });
      const every = Math.max(1, Math.ceil(pts.length / Math.max(1, Math.floor((c.width - m.l - m.r) / 75))));
      const last = pts.length - 1;
      pts.forEach(function (p, i) {  // every few periods, and the last one when it does not crowd the one before
        if ((i % every === 0 && (i === last || last - i >= every)) || i === last) {
          const anchor = pts.length > 1 && i === last ? "end" : "middle";
          c.svg.appendChild(svgEl("text", { x: x(i), y: c.height - 14, "text-anchor": anchor }, p.period));
        }
      });
    });
  }

  function fit(text, chars) { return text.length > chars ? text.slice(0, Math.max(1, chars - 1)) + "…" : text; }

  /* Signed contributions around zero (SHAP log-odds): red pushes the risk up, green pulls it down. */
  function factorBars(container, factors, label) {
    remember(container, function () {
      const rowH = 30, top = 8;
      const c = canvas(container, top + factors.length * rowH + 24, label);
      const labelW = Math.min(200, Math.floor(c.width * 0.45));
      const max = Math.max(0.05, Math.max.apply(null, factors.map(function (f) { return Math.abs(f.value); })));
      const room = c.width - labelW - 90;  /* 45 px each side for the value text */
      const mid = labelW + 45 + room / 2;
      const scale = room / 2 / max;
      c.svg.appendChild(svgEl("line", { class: "axis", x1: mid, x2: mid, y1: top, y2: c.height - 20 }));
      factors.forEach(function (f, i) {
        const y = top + i * rowH;
        const w = Math.abs(f.value) * scale;
        c.svg.appendChild(svgEl("text", { x: labelW - 6, y: y + 18, "text-anchor": "end" }, fit(f.label, Math.floor((labelW - 8) / 6.2))));
        c.svg.appendChild(svgEl("rect", { class: f.value >= 0 ? "bar-up" : "bar-down", x: f.value >= 0 ? mid : mid - w, y: y + 6, width: Math.max(1, w), height: 16 }));
        c.svg.appendChild(svgEl("text", { x: f.value >= 0 ? mid + w + 3 : mid - w - 3, y: y + 18, "text-anchor": f.value >= 0 ? "start" : "end" }, (f.value > 0 ? "+" : "") + f.value.toFixed(2)));
      });
      c.svg.appendChild(svgEl("text", { x: mid, y: c.height - 6, "text-anchor": "middle" }, "change in log-odds"));
    });
  }

  /* Reliability diagram: mean forecast vs observed rate per bin, the diagonal is perfect calibration. */
  function reliability(container, bins, label) {
    remember(container, function () {
      const size = Math.min(360, Math.max(260, container.clientWidth || 300));
      const c = canvas(container, size, label, size);
      const m = { l: 40, r: 12, t: 10, b: 36 };
      const x = function (v) { return m.l + (c.width - m.l - m.r) * v; };
      const y = function (v) { return c.height - m.b - (c.height - m.t - m.b) * v; };
      c.svg.appendChild(svgEl("line", { class: "axis", x1: x(0), x2: x(1), y1: y(0), y2: y(0) }));
      c.svg.appendChild(svgEl("line", { class: "axis", x1: x(0), x2: x(0), y1: y(0), y2: y(1) }));
      c.svg.appendChild(svgEl("line", { class: "diag", x1: x(0), x2: x(1), y1: y(0), y2: y(1) }));
      [0, 0.5, 1].forEach(function (v) {
        c.svg.appendChild(svgEl("text", { x: x(v), y: c.height - 22, "text-anchor": "middle" }, v));
        c.svg.appendChild(svgEl("text", { x: m.l - 4, y: y(v) + 4, "text-anchor": "end" }, v));
      });
      c.svg.appendChild(svgEl("text", { x: (x(0) + x(1)) / 2, y: c.height - 6, "text-anchor": "middle" }, "forecast probability"));
      const sorted = bins.slice().sort(function (a, b) { return a.forecast - b.forecast; });
      c.svg.appendChild(svgEl("polyline", { class: "line", points: sorted.map(function (b) { return x(b.forecast) + "," + y(b.observed); }).join(" ") }));
      const most = Math.max.apply(null, sorted.map(function (b) { return b.count; })) || 1;
      sorted.forEach(function (b) {
        c.svg.appendChild(svgEl("circle", { class: "point-recommended", cx: x(b.forecast), cy: y(b.observed), r: 2 + 4 * Math.sqrt(b.count / most) }));
      });
    });
  }

  let timer = null;
  window.addEventListener("resize", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      drawn.forEach(function (draw, container) { if (container.isConnected) { draw(); } else { drawn.delete(container); } });
      mark();
    }, 150);
  });

  window.Charts = { pairedBars: pairedBars, divergingBars: divergingBars, outcomeCurve: outcomeCurve, factorBars: factorBars, reliability: reliability, trend: trend };
})();
