/* forgetmap report: draws the data document embedded in this page. Plain JavaScript, no library,
   no network. Every text that comes from data is put on screen with textContent (or drawn on a
   canvas), never parsed as HTML. This file: the data, DOM helpers and the colour scale. */

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
