/* forgetmap report: draws the data document embedded in this page. Plain JavaScript, no library,
   no network. Every text that comes from data is put on screen with textContent (or drawn on a
   canvas), never parsed as HTML. */
(function () {
  "use strict";

  var DATA = JSON.parse(document.getElementById("forgetmap-data").textContent);
  var SVGNS = "http://www.w3.org/2000/svg";

  // ------------------------------------------------------------------ DOM helpers
  function el(tag, props, children) {
    var node = document.createElement(tag);
    setProps(node, props);
    append(node, children);
    return node;
  }

  function svg(tag, props, children) {
    var node = document.createElementNS(SVGNS, tag);
    setProps(node, props);
    append(node, children);
    return node;
  }

  function setProps(node, props) {
    if (!props) return;
    Object.keys(props).forEach(function (key) {
      if (key === "text") node.textContent = props[key];
      else if (key === "class") node.setAttribute("class", props[key]);
      else node.setAttribute(key, String(props[key]));
    });
  }

  function append(node, children) {
    if (children === undefined || children === null) return;
    if (!Array.isArray(children)) children = [children];
    children.forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
    });
  }

  function isNumber(value) {
    return typeof value === "number" && isFinite(value);
  }

  function fmt(value) {
    if (value === null || value === undefined) return "–";
    if (typeof value === "boolean") return value ? "yes" : "no";
    if (typeof value === "number") {
      if (!isFinite(value)) return "–";
      if (Number.isInteger(value) && Math.abs(value) < 1e15) return String(value);
      var magnitude = Math.abs(value);
      if (magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e6)) return value.toExponential(2);
      return String(Number(value.toPrecision(4)));
    }
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  function keyValueTable(pairs) {
    var body = el("tbody");
    pairs.forEach(function (pair) {
      body.appendChild(el("tr", null, [el("th", { text: pair[0] }), el("td", { class: "text", text: fmt(pair[1]) })]));
    });
    return el("table", null, body);
  }

  // columns: [{key, label, text (bool), format (fn), best ("min"|"max")}]
  function dataTable(columns, rows) {
    var head = el("tr", null, columns.map(function (column) {
      return el("th", { class: column.text ? "text" : "", text: column.label || column.key });
    }));
    var best = {};
    columns.forEach(function (column) {
      if (!column.best) return;
      var values = rows.map(function (row) { return row[column.key]; }).filter(isNumber);
      if (values.length > 1) best[column.key] = column.best === "min" ? Math.min.apply(null, values) : Math.max.apply(null, values);
    });
    var body = el("tbody", null, rows.map(function (row) {
      return el("tr", null, columns.map(function (column) {
        var value = row[column.key];
        var text = column.format ? column.format(value, row) : fmt(value);
        var cls = column.text ? "text" : "";
        if (column.key in best && value === best[column.key]) cls += " best";
        return el("td", { class: cls, text: text });
      }));
    }));
    return el("table", null, [el("thead", null, head), body]);
  }

  function empty(text) {
    return el("p", { class: "empty", text: text });
  }

  function unionKeys(items, first, skip) {
    var keys = first.slice();
    items.forEach(function (item) {
      Object.keys(item).forEach(function (key) {
        if (keys.indexOf(key) < 0 && (!skip || skip.indexOf(key) < 0)) keys.push(key);
      });
    });
    return keys.filter(function (key) {
      return items.some(function (item) { return key in item; });
    });
  }

  // ------------------------------------------------------------------ colour
  var STOPS = [
    [-1, [33, 102, 172]], [-0.5, [146, 197, 222]], [0, [247, 247, 247]],
    [0.5, [244, 165, 130]], [1, [178, 24, 43]]
  ];
  var MISSING = [205, 208, 213];

  function colour(value, scale) {
    if (!isNumber(value)) return MISSING;
    var t = Math.max(-1, Math.min(1, value / scale));
    for (var i = 1; i < STOPS.length; i++) {
      if (t <= STOPS[i][0]) {
        var a = STOPS[i - 1], b = STOPS[i];
        var f = (t - a[0]) / (b[0] - a[0]);
        return [0, 1, 2].map(function (k) { return Math.round(a[1][k] + f * (b[1][k] - a[1][k])); });
      }
    }
    return STOPS[STOPS.length - 1][1];
  }

  function css(rgb) {
    return "rgb(" + rgb[0] + "," + rgb[1] + "," + rgb[2] + ")";
  }

  function legend(container, scale, label) {
    var width = 320, height = 34;
    var node = svg("svg", { viewBox: "0 0 " + (width + 80) + " " + height, width: width + 80, height: height });
    var steps = 64;
    for (var i = 0; i < steps; i++) {
      var v = -scale + (2 * scale * (i + 0.5)) / steps;
      node.appendChild(svg("rect", { x: 40 + (i * width) / steps, y: 2, width: width / steps + 0.5, height: 12, fill: css(colour(v, scale)) }));
    }
    [-scale, 0, scale].forEach(function (v, i) {
      node.appendChild(svg("text", { x: 40 + (i * width) / 2, y: 28, "text-anchor": "middle", "font-size": 11, text: fmt(v) }));
    });
    container.appendChild(el("div", null, [node, el("span", { class: "muted", text: " " + label })]));
  }

  // ------------------------------------------------------------------ the matrix
  function decodeFloat32(base64, count) {
    var binary = atob(base64);
    var view = new DataView(new ArrayBuffer(binary.length));
    for (var i = 0; i < binary.length; i++) view.setUint8(i, binary.charCodeAt(i));
    var out = new Float32Array(count);
    for (var j = 0; j < count; j++) out[j] = view.getFloat32(4 * j, true);
    return out;
  }

  var M = DATA.matrix.rows, N = DATA.matrix.columns;
  var VALUES = decodeFloat32(DATA.matrix.float32_base64, M * N);
  var RANK1 = DATA.rank1;

  function value(r, c) { var v = VALUES[r * N + c]; return v === v ? v : null; }
  function fitted(r, c) {
    if (!RANK1 || !isNumber(RANK1.tasks[r]) || !isNumber(RANK1.examples[c])) return null;
    return RANK1.tasks[r] * RANK1.examples[c];
  }
  function residual(r, c) {
    var v = value(r, c), f = fitted(r, c);
    return isNumber(v) && isNumber(f) ? v - f : null;
  }

  var ORDER_NAMES = {
    original: "store order", mean: "mean forgetting", group: "group / source",
    svd1: "SVD component 1", svd2: "SVD component 2"
  };
  var state = { rows: DATA.orders.rows.original, columns: DATA.orders.columns.original };
  var heatmaps = [];

  // ------------------------------------------------------------------ tooltip
  var tooltip = document.getElementById("tooltip");

  function showTooltip(event, heatmap, r, c) {
    var task = DATA.tasks[r], example = DATA.examples[c];
    tooltip.textContent = "";
    var lines = [
      ["task", task.id + (task.group ? "  (" + task.group + ")" : "")],
      ["example", example.id + (example.source ? "  (" + example.source + ")" : "")],
      ["forgetting", fmt(value(r, c))]
    ];
    if (heatmap.kind !== "values" && RANK1) {
      lines.push(["rank-1 fit", fmt(fitted(r, c))]);
      lines.push(["residual", fmt(residual(r, c))]);
    }
    lines.forEach(function (line) {
      tooltip.appendChild(el("div", null, [el("b", { text: line[0] + ": " }), line[1]]));
    });
    tooltip.appendChild(el("div", { class: "tt-text", text: example.text || "(no text stored)" }));
    tooltip.hidden = false;
    var x = event.clientX + 14, y = event.clientY + 14;
    var box = tooltip.getBoundingClientRect();
    if (x + box.width > window.innerWidth - 4) x = Math.max(4, event.clientX - box.width - 14);
    if (y + box.height > window.innerHeight - 4) y = Math.max(4, event.clientY - box.height - 14);
    tooltip.style.left = x + "px";
    tooltip.style.top = y + "px";
  }

  function hideTooltip() { tooltip.hidden = true; }

  // ------------------------------------------------------------------ heatmap (canvas)
  function Heatmap(canvas, kind, cellValue, scale) {
    this.canvas = canvas;
    this.kind = kind;
    this.cellValue = cellValue;
    this.scale = scale || 1;
    this.margin = { left: kind === "values" ? 130 : 8, top: 6, right: 6, bottom: 22 };
    this.image = document.createElement("canvas");
    this.resetView();
    this.bind();
  }

  Heatmap.prototype.resetView = function () {
    this.view = { c0: 0, c1: N, r0: 0, r1: M };
  };

  Heatmap.prototype.plot = function () {
    var w = this.canvas.clientWidth, h = this.canvas.clientHeight, m = this.margin;
    return { x: m.left, y: m.top, w: Math.max(1, w - m.left - m.right), h: Math.max(1, h - m.top - m.bottom) };
  };

  Heatmap.prototype.rebuild = function () {
    // One pixel per displayed cell, in the current order; drawn scaled with the view.
    this.image.width = Math.max(1, N);
    this.image.height = Math.max(1, M);
    var context = this.image.getContext("2d");
    var pixels = context.createImageData(this.image.width, this.image.height);
    for (var i = 0; i < M; i++) {
      var r = state.rows[i];
      for (var j = 0; j < N; j++) {
        var rgb = colour(this.cellValue(r, state.columns[j]), this.scale);
        var k = 4 * (i * N + j);
        pixels.data[k] = rgb[0]; pixels.data[k + 1] = rgb[1]; pixels.data[k + 2] = rgb[2]; pixels.data[k + 3] = 255;
      }
    }
    context.putImageData(pixels, 0, 0);
    this.draw();
  };

  Heatmap.prototype.draw = function () {
    var canvas = this.canvas, ratio = window.devicePixelRatio || 1;
    var w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
      canvas.width = Math.round(w * ratio);
      canvas.height = Math.round(h * ratio);
    }
    var context = canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, w, h);
    var p = this.plot(), v = this.view;
    var cellWidth = p.w / (v.c1 - v.c0), cellHeight = p.h / (v.r1 - v.r0);
    context.imageSmoothingEnabled = cellWidth < 2 || cellHeight < 2;
    context.drawImage(this.image, v.c0, v.r0, v.c1 - v.c0, v.r1 - v.r0, p.x, p.y, p.w, p.h);
    context.fillStyle = "#1d232b";
    context.font = "11px system-ui, sans-serif";
    if (this.kind === "values" && cellHeight >= 9) {
      context.textAlign = "right";
      context.textBaseline = "middle";
      for (var i = Math.floor(v.r0); i < Math.ceil(v.r1); i++) {
        var label = String(DATA.tasks[state.rows[i]].id);
        if (label.length > 18) label = label.slice(0, 17) + "…";
        context.fillText(label, p.x - 4, p.y + (i + 0.5 - v.r0) * cellHeight);
      }
    }
    context.textAlign = "left";
    context.textBaseline = "alphabetic";
    var shownColumns = Math.round(v.c1 - v.c0), shownRows = Math.round(v.r1 - v.r0);
    context.fillText(shownRows + " tasks × " + shownColumns + " examples in view", p.x, p.y + p.h + 15);
  };

  Heatmap.prototype.cellAt = function (clientX, clientY) {
    var box = this.canvas.getBoundingClientRect(), p = this.plot(), v = this.view;
    var x = clientX - box.left - p.x, y = clientY - box.top - p.y;
    if (x < 0 || y < 0 || x >= p.w || y >= p.h) return null;
    var i = Math.floor(v.r0 + (y / p.h) * (v.r1 - v.r0));
    var j = Math.floor(v.c0 + (x / p.w) * (v.c1 - v.c0));
    if (i < 0 || i >= M || j < 0 || j >= N) return null;
    return { position: [i, j], row: state.rows[i], column: state.columns[j] };
  };

  Heatmap.prototype.cellCenter = function (i, j) {
    var box = this.canvas.getBoundingClientRect(), p = this.plot(), v = this.view;
    return {
      x: box.left + p.x + ((j + 0.5 - v.c0) / (v.c1 - v.c0)) * p.w,
      y: box.top + p.y + ((i + 0.5 - v.r0) / (v.r1 - v.r0)) * p.h
    };
  };

  Heatmap.prototype.zoom = function (factor, fx, fy) {
    // Zoom about the fraction (fx, fy) of the plot; never below one cell nor beyond the matrix.
    var v = this.view;
    function axis(a0, a1, f, size) {
      var span = Math.min(size, Math.max(1, (a1 - a0) / factor));
      var centre = a0 + f * (a1 - a0);
      var start = centre - f * span;
      start = Math.max(0, Math.min(size - span, start));
      return [start, start + span];
    }
    var c = axis(v.c0, v.c1, fx, N), r = axis(v.r0, v.r1, fy, M);
    this.view = { c0: c[0], c1: c[1], r0: r[0], r1: r[1] };
    this.draw();
  };

  Heatmap.prototype.pan = function (dx, dy) {
    var v = this.view, p = this.plot();
    var dc = (-dx / p.w) * (v.c1 - v.c0), dr = (-dy / p.h) * (v.r1 - v.r0);
    dc = Math.max(-v.c0, Math.min(N - v.c1, dc));
    dr = Math.max(-v.r0, Math.min(M - v.r1, dr));
    this.view = { c0: v.c0 + dc, c1: v.c1 + dc, r0: v.r0 + dr, r1: v.r1 + dr };
    this.draw();
  };

  Heatmap.prototype.bind = function () {
    var self = this, canvas = this.canvas, drag = null;
    canvas.addEventListener("wheel", function (event) {
      event.preventDefault();
      var box = canvas.getBoundingClientRect(), p = self.plot();
      var fx = Math.max(0, Math.min(1, (event.clientX - box.left - p.x) / p.w));
      var fy = Math.max(0, Math.min(1, (event.clientY - box.top - p.y) / p.h));
      self.zoom(Math.exp(-event.deltaY * 0.0015), fx, event.shiftKey ? 0.5 : fy);
    }, { passive: false });
    canvas.addEventListener("pointerdown", function (event) {
      drag = { x: event.clientX, y: event.clientY };
      canvas.setPointerCapture(event.pointerId);
    });
    canvas.addEventListener("pointerup", function () { drag = null; });
    canvas.addEventListener("pointermove", function (event) {
      if (drag) {
        self.pan(event.clientX - drag.x, event.clientY - drag.y);
        drag = { x: event.clientX, y: event.clientY };
        hideTooltip();
        return;
      }
      var cell = self.cellAt(event.clientX, event.clientY);
      if (cell) showTooltip(event, self, cell.row, cell.column);
      else hideTooltip();
    });
    canvas.addEventListener("pointerleave", hideTooltip);
    canvas.addEventListener("dblclick", function () { self.resetView(); self.draw(); });
  };

  function setupHeatmaps() {
    document.getElementById("display-note").textContent = DATA.display.note;
    var main = new Heatmap(document.getElementById("heatmap"), "values", value, DATA.matrix.scale);
    heatmaps.push(main);
    legend(document.getElementById("heatmap-legend"), DATA.matrix.scale, "forgetting (loss after − before); white is 0, colours saturate at the 99th percentile of |value|");
    if (RANK1) {
      heatmaps.push(new Heatmap(document.getElementById("rank1"), "rank1", fitted, DATA.matrix.scale));
      heatmaps.push(new Heatmap(document.getElementById("residual"), "residual", residual, DATA.matrix.residual_scale));
      legend(document.getElementById("residual-legend"), DATA.matrix.residual_scale, "residual (matrix − rank-1 fit)");
    } else {
      var section = document.getElementById("rank1-section");
      section.querySelector(".row").replaceWith(empty("The matrix is too small for a rank-1 fit."));
    }
    [["row-order", "rows"], ["column-order", "columns"]].forEach(function (pair) {
      var select = document.getElementById(pair[0]);
      Object.keys(DATA.orders[pair[1]]).forEach(function (name) {
        select.appendChild(el("option", { value: name, text: ORDER_NAMES[name] || name }));
      });
      select.addEventListener("change", function () {
        state[pair[1]] = DATA.orders[pair[1]][select.value];
        redraw(true);
      });
    });
    document.getElementById("reset-view").addEventListener("click", function () {
      heatmaps.forEach(function (h) { h.resetView(); h.draw(); });
    });
    window.addEventListener("resize", function () { redraw(false); });
    redraw(true);
  }

  function redraw(rebuild) {
    heatmaps.forEach(function (h) { if (rebuild) h.rebuild(); else h.draw(); });
    var canvas = document.getElementById("heatmap");
    canvas.setAttribute("data-row-order", JSON.stringify(state.rows.map(function (r) { return DATA.tasks[r].id; })));
  }

  // ------------------------------------------------------------------ charts (SVG)
  function axisTicks(lo, hi, count) {
    if (!(hi > lo)) return [lo];
    var step = Math.pow(10, Math.floor(Math.log10((hi - lo) / count)));
    var err = (count * step) / (hi - lo);
    if (err <= 0.15) step *= 10; else if (err <= 0.35) step *= 5; else if (err <= 0.75) step *= 2;
    var ticks = [];
    for (var t = Math.ceil(lo / step) * step; t <= hi + 1e-12; t += step) ticks.push(Number(t.toPrecision(12)));
    return ticks;
  }

  function spectrumChart(container, singular, rankR2) {
    var W = 620, H = 280, m = { l: 56, r: 50, t: 12, b: 40 };
    var pw = W - m.l - m.r, ph = H - m.t - m.b, n = singular.length;
    var node = svg("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img" });
    var top = Math.max.apply(null, singular.concat([1e-12]));
    var bw = pw / Math.max(1, n);
    axisTicks(0, top, 5).forEach(function (t) {
      var y = m.t + ph - (t / top) * ph;
      node.appendChild(svg("line", { x1: m.l, x2: m.l + pw, y1: y, y2: y, stroke: "#e3e6ea" }));
      node.appendChild(svg("text", { x: m.l - 6, y: y + 4, "text-anchor": "end", "font-size": 11, text: fmt(t) }));
    });
    singular.forEach(function (s, i) {
      var h = (s / top) * ph;
      var bar = svg("rect", { x: m.l + i * bw + bw * 0.15, y: m.t + ph - h, width: bw * 0.7, height: Math.max(0, h), fill: "#8fa9c6" });
      bar.appendChild(svg("title", { text: "σ" + (i + 1) + " = " + fmt(s) }));
      node.appendChild(bar);
      if (n <= 30 || i % Math.ceil(n / 30) === 0) {
        node.appendChild(svg("text", { x: m.l + (i + 0.5) * bw, y: m.t + ph + 14, "text-anchor": "middle", "font-size": 10, text: String(i + 1) }));
      }
    });
    var points = [];
    for (var k = 1; k <= n; k++) {
      var r2 = rankR2[String(k)];
      if (isNumber(r2)) points.push([m.l + (k - 0.5) * bw, m.t + ph - Math.max(0, Math.min(1, r2)) * ph, k, r2]);
    }
    if (points.length) {
      node.appendChild(svg("polyline", { points: points.map(function (p) { return p[0] + "," + p[1]; }).join(" "), fill: "none", stroke: "#b2182b", "stroke-width": 2 }));
      points.forEach(function (p) {
        var dot = svg("circle", { cx: p[0], cy: p[1], r: 3.5, fill: "#b2182b" });
        dot.appendChild(svg("title", { text: "rank " + p[2] + ": R² = " + fmt(p[3]) }));
        node.appendChild(dot);
      });
    }
    [0, 0.25, 0.5, 0.75, 1].forEach(function (t) {
      node.appendChild(svg("text", { x: m.l + pw + 6, y: m.t + ph - t * ph + 4, "font-size": 11, fill: "#b2182b", text: fmt(t) }));
    });
    node.appendChild(svg("text", { x: m.l + pw / 2, y: H - 6, "text-anchor": "middle", "font-size": 12, text: "component / rank k" }));
    node.appendChild(svg("text", { x: 12, y: m.t + ph / 2, "font-size": 12, "text-anchor": "middle", transform: "rotate(-90 12 " + (m.t + ph / 2) + ")", text: "singular value" }));
    node.appendChild(svg("text", { x: W - 8, y: m.t + ph / 2, "font-size": 12, fill: "#b2182b", "text-anchor": "middle", transform: "rotate(90 " + (W - 8) + " " + (m.t + ph / 2) + ")", text: "cumulative R²" }));
    container.appendChild(node);
  }

  function barChart(container, items, options) {
    // items: [{label, value, err}], vertical bars around 0 with a diverging colour.
    var W = options.width || 620, H = options.height || 240, m = { l: 56, r: 12, t: 12, b: options.labels ? 70 : 24 };
    var pw = W - m.l - m.r, ph = H - m.t - m.b;
    var values = items.map(function (d) { return d.value; }).filter(isNumber);
    var highs = items.map(function (d) { return (d.value || 0) + (d.err || 0); });
    var lows = items.map(function (d) { return (d.value || 0) - (d.err || 0); });
    var hi = Math.max.apply(null, highs.concat([0])), lo = Math.min.apply(null, lows.concat([0]));
    if (hi === lo) hi = lo + 1;
    var scale = Math.max(Math.abs(hi), Math.abs(lo));
    function y(v) { return m.t + ((hi - v) / (hi - lo)) * ph; }
    var node = svg("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img" });
    axisTicks(lo, hi, 5).forEach(function (t) {
      node.appendChild(svg("line", { x1: m.l, x2: m.l + pw, y1: y(t), y2: y(t), stroke: t === 0 ? "#9aa4af" : "#e3e6ea" }));
      node.appendChild(svg("text", { x: m.l - 6, y: y(t) + 4, "text-anchor": "end", "font-size": 11, text: fmt(t) }));
    });
    var bw = pw / Math.max(1, items.length);
    items.forEach(function (d, i) {
      if (!isNumber(d.value)) return;
      var top = y(Math.max(0, d.value)), bottom = y(Math.min(0, d.value));
      var bar = svg("rect", { x: m.l + i * bw + bw * 0.12, y: top, width: Math.max(0.5, bw * 0.76), height: Math.max(0.5, bottom - top), fill: css(colour(d.value, scale)), stroke: "#9aa4af", "stroke-width": 0.5 });
      bar.appendChild(svg("title", { text: d.label + ": " + fmt(d.value) + (isNumber(d.err) ? " ± " + fmt(d.err) : "") }));
      node.appendChild(bar);
      if (isNumber(d.err)) {
        var cx = m.l + (i + 0.5) * bw;
        node.appendChild(svg("line", { x1: cx, x2: cx, y1: y(d.value - d.err), y2: y(d.value + d.err), stroke: "#1d232b" }));
      }
      if (options.labels) {
        var lx = m.l + (i + 0.5) * bw, ly = m.t + ph + 8;
        var label = d.label.length > 14 ? d.label.slice(0, 13) + "…" : d.label;
        node.appendChild(svg("text", { x: lx, y: ly, "font-size": 10, "text-anchor": "end", transform: "rotate(-45 " + lx + " " + ly + ")", text: label }));
      }
    });
    if (options.ylabel) {
      node.appendChild(svg("text", { x: 12, y: m.t + ph / 2, "font-size": 12, "text-anchor": "middle", transform: "rotate(-90 12 " + (m.t + ph / 2) + ")", text: options.ylabel }));
    }
    void values;
    container.appendChild(el("div", { class: "chart" }, node));
  }

  function scatterPlot(container, name, points) {
    var size = 300, m = { l: 48, r: 10, t: 22, b: 36 };
    var canvas = el("canvas", { width: size, height: size, class: "scatter" });
    var ratio = window.devicePixelRatio || 1;
    canvas.width = size * ratio; canvas.height = size * ratio;
    canvas.style.width = size + "px"; canvas.style.height = size + "px";
    var context = canvas.getContext("2d");
    context.scale(ratio, ratio);
    var xs = [], ys = [];
    for (var i = 0; i < Math.min(points.true.length, points.predicted.length); i++) {
      if (isNumber(points.true[i]) && isNumber(points.predicted[i])) { xs.push(points.true[i]); ys.push(points.predicted[i]); }
    }
    var all = xs.concat(ys);
    var lo = all.length ? Math.min.apply(null, all) : 0, hi = all.length ? Math.max.apply(null, all) : 1;
    if (hi === lo) hi = lo + 1;
    var pw = size - m.l - m.r, ph = size - m.t - m.b;
    function px(v) { return m.l + ((v - lo) / (hi - lo)) * pw; }
    function py(v) { return m.t + ph - ((v - lo) / (hi - lo)) * ph; }
    context.fillStyle = "#fff"; context.fillRect(0, 0, size, size);
    context.strokeStyle = "#d8dde3"; context.strokeRect(m.l, m.t, pw, ph);
    context.strokeStyle = "#9aa4af"; context.beginPath(); context.moveTo(px(lo), py(lo)); context.lineTo(px(hi), py(hi)); context.stroke();
    context.fillStyle = "rgba(33,102,172,0.35)";
    for (var k = 0; k < xs.length; k++) { context.beginPath(); context.arc(px(xs[k]), py(ys[k]), 2, 0, 2 * Math.PI); context.fill(); }
    context.fillStyle = "#1d232b"; context.font = "12px system-ui, sans-serif"; context.textAlign = "center";
    context.fillText(name + " (" + xs.length + " entries)", size / 2, 14);
    context.font = "11px system-ui, sans-serif";
    context.fillText("true", m.l + pw / 2, size - 6);
    axisTicks(lo, hi, 4).forEach(function (t) {
      context.textAlign = "center"; context.fillText(fmt(t), px(t), m.t + ph + 14);
      context.textAlign = "right"; context.fillText(fmt(t), m.l - 4, py(t) + 4);
    });
    context.save(); context.translate(12, m.t + ph / 2); context.rotate(-Math.PI / 2); context.textAlign = "center"; context.fillText("predicted", 0, 0); context.restore();
    container.appendChild(el("div", { class: "card" }, canvas));
  }

  // ------------------------------------------------------------------ sections
  var A = DATA.analysis || {};
  var TEXTS = {};
  DATA.examples.forEach(function (e) { TEXTS[e.id] = e.text; });
  (A.most_forgotten || []).concat(A.least_forgotten || []).forEach(function (e) { if (e.text) TEXTS[e.id] = e.text; });

  function overview() {
    var s = DATA.store;
    document.getElementById("subtitle").textContent =
      s.path + " · metric " + s.metric + " · " + s.shape[0] + " tasks × " + s.shape[1] + " examples · generated " + DATA.generated;
    var pairs = [
      ["store", s.path], ["metric", s.metric], ["tasks × examples", s.shape[0] + " × " + s.shape[1]],
      ["finished tasks", s.finished], ["measured entries", s.measured],
      ["share forgotten (> 0)", s.share_forgotten], ["mean forgetting", s.mean], ["std of forgetting", s.std],
      ["analysis", A.source === "artifact" ? "read from the store's analysis artifact (forgetmap analyze)" : "computed for this report by forgetmap.analysis.analyze"]
    ];
    var stats = A.statistics || {};
    var statPairs = [];
    Object.keys(stats).forEach(function (key) {
      var v = stats[key];
      if (["share_forgotten", "mean", "std", "measured"].indexOf(key) >= 0) return;
      if (v === null || typeof v !== "object") statPairs.push([key.replace(/_/g, " "), v]);
    });
    var body = document.getElementById("overview-body");
    var nested = Object.keys(stats).filter(function (key) {
      var v = stats[key];
      return v && typeof v === "object" && !Array.isArray(v);
    }).map(function (key) {
      return el("div", null, [el("h3", { text: key.replace(/_/g, " ") }), keyValueTable(Object.keys(stats[key]).map(function (k) { return [k, stats[key][k]]; }))]);
    });
    body.appendChild(el("div", { class: "row" }, [keyValueTable(pairs), statPairs.length ? keyValueTable(statPairs) : null].concat(nested)));
  }

  function fits() {
    var spectrum = document.getElementById("spectrum");
    var rankCount = Object.keys(A.rank_r2 || {}).length;
    var singular = (A.singular_values || []).filter(isNumber).slice(0, Math.max(30, 2 * rankCount));
    if (singular.length) spectrumChart(spectrum, singular, A.rank_r2 || {});
    else spectrum.appendChild(empty("No spectrum in the analysis."));
    var rows = [];
    var names = { row_only: "row only (task means)", column_only: "column only (example means)", additive: "additive (μ + aᵢ + bⱼ)", multiplicative: "multiplicative (rank 1)" };
    Object.keys(A.fits || {}).forEach(function (key) { rows.push({ model: names[key] || key, r2: A.fits[key] }); });
    Object.keys(A.rank_r2 || {}).sort(function (a, b) { return Number(a) - Number(b); }).forEach(function (k) {
      rows.push({ model: "rank " + k, r2: A.rank_r2[k] });
    });
    var box = document.getElementById("fit-table");
    box.appendChild(el("h3", { text: "Goodness of fit" }));
    box.appendChild(rows.length ? dataTable([{ key: "model", label: "model", text: true }, { key: "r2", label: "R²" }], rows) : empty("No fits in the analysis."));
    var settings = A.settings || {};
    var settingPairs = Object.keys(settings).map(function (k) {
      var v = settings[k];
      return [k.replace(/_/g, " "), Array.isArray(v) ? (v.length ? v.join(", ") : "none") : v];
    });
    if (settingPairs.length) {
      box.appendChild(el("h3", { text: "Analysis settings" }));
      box.appendChild(keyValueTable(settingPairs));
    }
    var residuals = A.residuals || {};
    var largest = residuals.largest || [];
    var rank1Box = document.getElementById("rank1-section");
    if (largest.length) {
      rank1Box.appendChild(el("h3", { text: "Largest residuals (mean " + fmt(residuals.mean) + ", std " + fmt(residuals.std) + ")" }));
      var rowsLargest = largest.map(function (item) {
        var row = {};
        Object.keys(item).forEach(function (k) { row[k] = item[k]; });
        row.text = TEXTS[item.example] || "";
        return row;
      });
      var keys = unionKeys(rowsLargest, ["task", "example", "residual"], ["text"]).concat(["text"]);
      rank1Box.appendChild(el("div", { class: "scroll" }, dataTable(keys.map(function (k) {
        return { key: k, text: k === "task" || k === "example" || k === "text" };
      }), rowsLargest)));
    }
  }

  function components() {
    var box = document.getElementById("components");
    var list = A.components || [];
    if (!list.length) { box.appendChild(empty("No components in the analysis.")); return; }
    var grid = el("div", { class: "grid" });
    list.forEach(function (component, position) {
      var index = position + 1;
      grid.appendChild(el("div", { class: "card" }, [
        el("h3", { text: "Component " + index + " · σ = " + fmt(component.singular_value) }),
        dataTable([{ key: "id", label: "top tasks", text: true }, { key: "loading" }], component.tasks || []),
        dataTable([{ key: "id", label: "top examples", text: true }, { key: "loading" }, { key: "text", text: true, format: function (v, row) { var t = TEXTS[row.id] || ""; return t.length > 120 ? t.slice(0, 119) + "…" : t; } }], component.examples || [])
      ]));
    });
    box.appendChild(grid);
  }

  function groups() {
    var box = document.getElementById("groups");
    var list = (A.groups || []).slice().sort(function (a, b) {
      var qa = isNumber(a.q_value) ? a.q_value : 2, qb = isNumber(b.q_value) ? b.q_value : 2;
      return qa - qb;
    });
    box.appendChild(el("h3", { text: "Groups of tasks and examples (Benjamini–Hochberg q-values)" }));
    if (list.length) {
      var fdr = isNumber((A.settings || {}).fdr) ? A.settings.fdr : 0.05;
      var significant = list.filter(function (g) {
        return "significant" in g ? g.significant === true : isNumber(g.q_value) && g.q_value <= fdr;
      }).length;
      box.appendChild(el("p", { class: "note", text: significant + " of " + list.length + " tested groups are significant at false-discovery rate " + fmt(fdr) + "; the table is sorted by q." }));
      var keys = unionKeys(list, ["axis", "field", "value", "statistic", "p_value", "q_value"]);
      box.appendChild(el("div", { class: "scroll" }, dataTable(keys.map(function (k) {
        return { key: k, label: k.replace(/_/g, " "), text: ["axis", "field", "value", "test"].indexOf(k) >= 0 };
      }), list)));
    } else box.appendChild(empty("No groups were tested (the analysis found no grouping fields)."));
    box.appendChild(el("h3", { text: "Co-clusters of tasks × examples in the residual" }));
    var clusters = A.coclusters || [];
    if (!clusters.length) { box.appendChild(empty("No co-clusters in the analysis.")); return; }
    var grid = el("div", { class: "grid" });
    clusters.forEach(function (cluster, i) {
      var pairs = [["tasks", cluster.n_tasks], ["examples", cluster.n_examples]];
      Object.keys(cluster).forEach(function (key) {
        if (["tasks", "examples", "n_tasks", "n_examples"].indexOf(key) < 0) pairs.push([key.replace(/_/g, " "), cluster[key]]);
      });
      grid.appendChild(el("div", { class: "card" }, [
        el("h3", { text: "Co-cluster " + (i + 1) }),
        keyValueTable(pairs),
        el("div", { class: "muted", text: "tasks: " + (cluster.tasks || []).join(", ") + (cluster.n_tasks > (cluster.tasks || []).length ? ", …" : "") }),
        el("div", { class: "muted", text: "examples: " + (cluster.examples || []).join(", ") + (cluster.n_examples > (cluster.examples || []).length ? ", …" : "") })
      ]));
    });
    box.appendChild(grid);
  }

  function examples() {
    var box = document.getElementById("examples");
    [["most_forgotten", "Most forgotten"], ["least_forgotten", "Least forgotten"]].forEach(function (pair) {
      var list = A[pair[0]] || [];
      box.appendChild(el("h3", { text: pair[1] }));
      box.appendChild(list.length ? el("div", { class: "scroll" }, dataTable(
        [{ key: "id", label: "example", text: true }, { key: "mean", label: "mean forgetting" }, { key: "text", text: true }], list)) : empty("Not in the analysis."));
    });
  }

  function tasks() {
    var box = document.getElementById("tasks");
    var list = DATA.task_stats || [];
    if (!list.length) { box.appendChild(empty("No finished tasks.")); return; }
    var sorted = list.slice().sort(function (a, b) { return (isNumber(b.mean) ? b.mean : -Infinity) - (isNumber(a.mean) ? a.mean : -Infinity); });
    barChart(box, sorted.map(function (t) { return { label: t.id, value: t.mean, err: t.std }; }), { labels: sorted.length <= 60, ylabel: "mean forgetting", width: Math.max(620, Math.min(1300, 16 * sorted.length + 80)) });
    var keys = unionKeys(list, ["id", "group", "mean", "std", "first_loss", "last_loss", "loss_drop", "steps", "tokens", "train_seconds", "score_seconds"]);
    box.appendChild(el("div", { class: "scroll" }, dataTable(keys.map(function (k) {
      return { key: k, label: k.replace(/_/g, " "), text: k === "id" || k === "group" };
    }), sorted)));
  }

  function correlations() {
    var box = document.getElementById("correlations");
    var c = A.correlations || {};
    var rows = Object.keys(c).map(function (name) {
      var entry = c[name];
      var row = { name: name };
      if (entry && typeof entry === "object") Object.keys(entry).forEach(function (k) { row[k] = entry[k]; });
      else row.value = entry;
      return row;
    });
    if (!rows.length) { box.appendChild(empty("No correlations in the analysis.")); return; }
    var keys = unionKeys(rows, ["name", "pearson", "spearman"]);
    box.appendChild(dataTable(keys.map(function (k) { return { key: k, text: k === "name" }; }), rows));
  }

  function evaluate() {
    var box = document.getElementById("evaluate");
    var doc = DATA.evaluate;
    if (!doc) { box.appendChild(empty("No evaluation results in this store: run `forgetmap evaluate RUN`, then rebuild the report.")); return; }
    var metrics = [["rmse", "min"], ["mae", "min"], ["pearson", "max"], ["spearman", "max"], ["f1", "max"], ["precision", "max"], ["recall", "max"], ["auc", "max"], ["precision_at_10", "max"], ["coverage_90", null], ["seconds", "min"]];
    var names = Object.keys(doc.methods);
    var rows = names.map(function (name) { var row = { method: name }; Object.keys(doc.methods[name] || {}).forEach(function (k) { row[k] = doc.methods[name][k]; }); return row; });
    var present = metrics.filter(function (m) { return rows.some(function (row) { return m[0] in row; }); });
    var columns = [{ key: "method", text: true }].concat(present.map(function (m) {
      return { key: m[0], label: m[0].replace(/_/g, " "), best: m[1], format: function (v, row) { var s = row[m[0] + "_std"]; return fmt(v) + (isNumber(s) ? " ± " + fmt(s) : ""); } };
    }));
    box.appendChild(el("p", { class: "note", text: "Means over seeds ± std; best per column in bold (lowest error and time, highest agreement)." }));
    box.appendChild(dataTable(columns, rows));
    var skipped = Object.keys(doc.skipped || {});
    if (skipped.length) {
      box.appendChild(el("h3", { text: "Methods not run" }));
      box.appendChild(keyValueTable(skipped.map(function (k) { return [k, doc.skipped[k]]; })));
    }
    if (doc.settings && Object.keys(doc.settings).length) {
      box.appendChild(el("h3", { text: "Protocol" }));
      box.appendChild(keyValueTable(Object.keys(doc.settings).map(function (k) { return [k, doc.settings[k]]; })));
    }
    var names2 = Object.keys(doc.scatter || {});
    if (names2.length) {
      box.appendChild(el("h3", { text: "Predicted vs true forgetting on unrevealed entries" }));
      var grid = el("div", { class: "grid" });
      names2.forEach(function (name) { scatterPlot(grid, name, doc.scatter[name]); });
      box.appendChild(grid);
    }
  }

  function replay() {
    var box = document.getElementById("replay");
    var doc = DATA.replay;
    if (!doc) { box.appendChild(empty("No replay results: run `forgetmap replay CONFIG --out DIR`, then pass --replay DIR/replay.json.")); return; }
    var rows = Object.keys(doc.samplers).map(function (name) { var row = { sampler: name }; var s = doc.samplers[name] || {}; Object.keys(s).forEach(function (k) { row[k] = s[k]; }); return row; });
    barChart(box, rows.map(function (r) { return { label: r.sampler, value: r.heldout_forgetting_mean, err: r.heldout_forgetting_std }; }), { labels: true, ylabel: "held-out forgetting", width: Math.max(360, 90 * rows.length + 80) });
    var keys = unionKeys(rows, ["sampler", "heldout_forgetting_mean", "heldout_forgetting_std", "task_loss_mean"]);
    box.appendChild(dataTable(keys.map(function (k) {
      return { key: k, label: k.replace(/_/g, " "), text: k === "sampler", best: k === "heldout_forgetting_mean" ? "min" : null };
    }), rows));
    var tests = doc.tests || [];
    box.appendChild(el("h3", { text: "Tests" }));
    if (tests.length) {
      var tkeys = unionKeys(tests, ["a", "b", "statistic", "p_value", "effect_size", "ci_low", "ci_high"]);
      box.appendChild(dataTable(tkeys.map(function (k) { return { key: k, label: k.replace(/_/g, " "), text: k === "a" || k === "b" || k === "test" }; }), tests));
    } else box.appendChild(empty("No tests in the replay results."));
  }

  function run() {
    var box = document.getElementById("run");
    var r = DATA.run || {}, env = DATA.environment || {};
    box.appendChild(keyValueTable([
      ["model", r.model], ["seed", r.seed], ["store kind", r.kind], ["created", r.created],
      ["metrics", (r.metrics || []).join(", ")], ["dtype", r.dtype], ["fingerprint", r.fingerprint],
      ["python", env.python], ["platform", env.platform]
    ]));
    var packages = env.packages || {};
    box.appendChild(el("h3", { text: "Package versions" }));
    box.appendChild(dataTable([{ key: "package", text: true }, { key: "version", text: true }],
      Object.keys(packages).map(function (k) { return { package: k, version: packages[k] === null ? "not installed" : packages[k] }; })));
    box.appendChild(el("h3", { text: "Config" }));
    box.appendChild(el("pre", { text: r.config ? JSON.stringify(r.config, null, 2) : "(none: the matrix was imported)" }));
  }

  function toc() {
    var nav = document.getElementById("toc");
    document.querySelectorAll("main section").forEach(function (section) {
      var title = section.querySelector("h2");
      nav.appendChild(el("a", { href: "#" + section.id, text: title ? title.textContent : section.id }));
    });
  }

  overview();
  setupHeatmaps();
  fits();
  components();
  groups();
  examples();
  tasks();
  correlations();
  evaluate();
  replay();
  run();
  toc();

  // A small read-only handle for scripts and tests that drive the page.
  window.forgetmapReport = {
    rowOrder: function () { return state.rows.map(function (r) { return DATA.tasks[r].id; }); },
    columnOrder: function () { return state.columns.map(function (c) { return DATA.examples[c].id; }); },
    cellCenter: function (i, j, which) { return heatmaps[which || 0].cellCenter(i, j); },
    ready: true
  };
})();
