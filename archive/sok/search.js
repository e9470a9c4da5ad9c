// Search over the archive with Pagefind's prebuilt index; results as a plain, accessible list.
const form = document.querySelector("form.search");
const input = document.getElementById("q");
const status = document.getElementById("status");
const list = document.getElementById("resultat");

async function run(query) {
  list.replaceChildren();
  if (!query) { status.textContent = ""; return; }
  status.textContent = "Söker …";
  const pagefind = await import("../pagefind/pagefind.js");
  const search = await pagefind.search(query);
  const results = await Promise.all(search.results.slice(0, 20).map((r) => r.data()));
  for (const result of results) {
    const item = document.createElement("li");
    const heading = document.createElement("h2");
    const link = document.createElement("a");
    link.href = result.url;
    link.textContent = result.meta.title || result.url;
    heading.append(link);
    const excerpt = document.createElement("p");
    excerpt.textContent = result.excerpt.replace(/<[^>]*>/g, "");
    item.append(heading, excerpt);
    list.append(item);
  }
  status.textContent = results.length === 1 ? "1 träff" : `${results.length} träffar`;
}

const query = new URLSearchParams(location.search).get("q") || "";
input.value = query;
run(query);
form.addEventListener("submit", (event) => {
  event.preventDefault();
  history.replaceState(null, "", `?q=${encodeURIComponent(input.value)}`);
  run(input.value.trim());
});
