/* The matrix, its tooltip and the zoomable canvas heatmaps with shared orderings. */
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
