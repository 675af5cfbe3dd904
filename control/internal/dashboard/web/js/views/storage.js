// Storage through /storage/v1 with the service_role key: buckets (create,
// public or private, size and MIME limits, delete), folders, upload with a
// progress bar (XMLHttpRequest reports upload progress; fetch does not),
// download and delete.
import {h, mount, errorBox, empty, toast, modal, fmtBytes} from '../dom.js';
import * as api from '../api.js';

export async function storageView(el, ref) {
  const side = h('nav', {class: 'card table-list', 'aria-label': 'Buckets'});
  const body = h('div', {class: 'table-main'});
  mount(el, h('header', {class: 'page-head'}, h('h1', {}, 'Storage'), h('div', {class: 'grow'}),
    h('button', {type: 'button', class: 'primary', id: 'new-bucket', on: {click: () => bucketDialog(null)}}, 'New bucket')),
  h('div', {class: 'tables-layout'}, side, body));
  let current = null;

  async function loadBuckets() {
    let buckets;
    try {
      buckets = (await api.pub(ref, 'GET', '/storage/v1/bucket')).data;
    } catch (e) {
      mount(body, errorBox(e));
      return;
    }
    if (!buckets.length) {
      mount(side);
      mount(body, empty('No bucket yet', 'Buckets hold files. Create one, public (anyone can download by URL) or private (signed URLs and policies).'));
      return;
    }
    mount(side, h('ul', {}, buckets.map((b) => h('li', {}, h('a', {href: '#', dataset: {bucket: b.id}, class: current && current.id === b.id ? 'active' : null,
      on: {click: (ev) => { ev.preventDefault(); open(b); }}}, b.name, b.public ? h('span', {class: 'badge warn'}, 'public') : h('span', {class: 'badge'}, 'private'))))));
    open(buckets.find((b) => current && b.id === current.id) || buckets[0]);
  }

  function open(b) {
    current = b;
    side.querySelectorAll('a').forEach((a) => a.classList.toggle('active', a.dataset.bucket === b.id));
    bucketScreen(b, '');
  }

  function bucketScreen(b, prefix) {
    const list = h('div', {class: 'table-wrap', id: 'objects'});
    const file = h('input', {type: 'file', id: 'upload-file', multiple: true, class: 'visually-hidden'});
    const progress = h('div', {class: 'uploads', id: 'uploads'});
    const crumbs = ['', ...prefix.split('/').filter(Boolean)];
    mount(body, h('section', {class: 'card'},
      h('div', {class: 'page-head'}, h('h2', {}, b.name), b.public ? h('span', {class: 'badge warn'}, 'public') : h('span', {class: 'badge'}, 'private'),
        h('span', {class: 'muted small-text'}, b.file_size_limit ? `≤ ${fmtBytes(b.file_size_limit)}` : 'no size limit', ' · ',
          b.allowed_mime_types && b.allowed_mime_types.length ? b.allowed_mime_types.join(', ') : 'any type'),
        h('div', {class: 'grow'}),
        h('button', {type: 'button', class: 'small', on: {click: () => bucketDialog(b)}}, 'Bucket settings'),
        h('button', {type: 'button', class: 'small danger', on: {click: () => deleteBucket(b)}}, 'Delete bucket')),
      h('div', {class: 'toolbar'},
        h('nav', {class: 'crumbs', 'aria-label': 'Folder'}, crumbs.map((c, i) => h('button', {type: 'button', class: 'link', on: {click: () => bucketScreen(b, crumbs.slice(1, i + 1).join('/') + (i ? '/' : ''))}}, i ? c : b.name + ' /'))),
        h('div', {class: 'grow'}),
        h('button', {type: 'button', class: 'small', on: {click: () => {
          const name = window.prompt('Folder name');
          if (name) bucketScreen(b, prefix + name.replace(/\/+$/, '') + '/');
        }}}, 'New folder'),
        h('label', {for: 'upload-file', class: 'button small primary', tabindex: '0', on: {keydown: (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); file.click(); } }}}, 'Upload files'), file),
      progress, list));
    file.addEventListener('change', async () => {
      for (const f of file.files) await upload(b, prefix + f.name, f, progress);
      file.value = '';
      loadObjects();
    });
    async function loadObjects() {
      try {
        const {data} = await api.pub(ref, 'POST', `/storage/v1/object/list/${encodeURIComponent(b.id)}`, {body: {prefix, limit: 1000, offset: 0, sortBy: {column: 'name', order: 'asc'}}});
        if (!data.length) {
          mount(list, empty(prefix ? 'This folder is empty' : 'This bucket is empty', 'Upload files with the button above.'));
          return;
        }
        mount(list, h('table', {class: 'grid'},
          h('thead', {}, h('tr', {}, ['Name', 'Size', 'Type', 'Updated', ''].map((c) => h('th', {scope: 'col'}, c)))),
          h('tbody', {}, data.map((o) => {
            const folder = !o.id;
            const full = prefix + o.name;
            return h('tr', {dataset: {object: full}},
              h('td', {}, folder ? h('button', {type: 'button', class: 'link', on: {click: () => bucketScreen(b, full + '/')}}, '📁 ', o.name) : o.name),
              h('td', {class: 'num'}, folder ? '' : fmtBytes(o.metadata && o.metadata.size)),
              h('td', {}, folder ? 'folder' : (o.metadata && o.metadata.mimetype) || ''),
              h('td', {}, o.updated_at ? new Date(o.updated_at).toLocaleString() : ''),
              h('td', {class: 'actions'}, folder ? null : [
                h('button', {type: 'button', class: 'small', on: {click: () => download(b, full)}}, 'Download'),
                h('button', {type: 'button', class: 'small danger', on: {click: async () => {
                  if (!window.confirm(`Delete ${full}?`)) return;
                  try {
                    await api.pub(ref, 'DELETE', `/storage/v1/object/${encodeURIComponent(b.id)}`, {body: {prefixes: [full]}});
                    toast('File deleted');
                    loadObjects();
                  } catch (e) { toast(e.message, 'error'); }
                }}}, 'Delete')]));
          }))));
      } catch (e) {
        mount(list, errorBox(e));
      }
    }
    loadObjects();
  }

  async function upload(b, path, f, box) {
    const {service_role: key} = await api.projectKeys(ref);
    const bar = h('progress', {max: 100, value: 0, 'aria-label': `Uploading ${f.name}`});
    const label = h('span', {}, `${f.name} · ${fmtBytes(f.size)}`);
    const row = h('div', {class: 'upload'}, label, bar);
    box.append(row);
    await new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', `/storage/v1/object/${encodeURIComponent(b.id)}/${path.split('/').map(encodeURIComponent).join('/')}`);
      xhr.setRequestHeader('apikey', key);
      xhr.setRequestHeader('Authorization', `Bearer ${key}`);
      xhr.setRequestHeader('Content-Type', f.type || 'application/octet-stream');
      xhr.setRequestHeader('x-upsert', 'true');
      xhr.upload.onprogress = (ev) => { if (ev.lengthComputable) bar.value = Math.round((ev.loaded / ev.total) * 100); };
      xhr.onload = () => {
        if (xhr.status < 300) {
          bar.value = 100;
          row.classList.add('done');
          setTimeout(() => row.remove(), 2500);
        } else {
          let msg = `HTTP ${xhr.status}`;
          try { const j = JSON.parse(xhr.responseText); msg = j.message || j.error || msg; } catch { /* not JSON */ }
          row.classList.add('failed');
          label.textContent = `${f.name}: ${msg}`;
        }
        resolve();
      };
      xhr.onerror = () => { row.classList.add('failed'); label.textContent = `${f.name}: the upload failed (network)`; resolve(); };
      xhr.send(f);
    });
  }

  async function download(b, path) {
    try {
      const res = await api.pub(ref, 'GET', `/storage/v1/object/${encodeURIComponent(b.id)}/${path.split('/').map(encodeURIComponent).join('/')}`, {raw: true});
      const url = URL.createObjectURL(await res.blob());
      const a = h('a', {href: url, download: path.split('/').pop()});
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (e) { toast(e.message, 'error'); }
  }

  async function deleteBucket(b) {
    if (!window.confirm(`Delete bucket ${b.name} and every file in it?`)) return;
    try {
      await api.pub(ref, 'POST', `/storage/v1/bucket/${encodeURIComponent(b.id)}/empty`, {body: {}});
      await api.pub(ref, 'DELETE', `/storage/v1/bucket/${encodeURIComponent(b.id)}`);
      toast('Bucket deleted');
      current = null;
      loadBuckets();
    } catch (e) { toast(e.message, 'error'); }
  }

  function bucketDialog(b) {
    const name = h('input', {id: 'bucket-name', required: true, value: b ? b.name : '', disabled: !!b});
    const pub = h('input', {type: 'checkbox', id: 'bucket-public', checked: b ? b.public : false});
    const size = h('input', {id: 'bucket-size', value: b && b.file_size_limit ? String(b.file_size_limit) : '', placeholder: 'bytes, or e.g. 5MB; empty: no limit'});
    const mimes = h('input', {id: 'bucket-mimes', value: b && b.allowed_mime_types ? b.allowed_mime_types.join(', ') : '', placeholder: 'image/*, application/pdf; empty: any'});
    const status = h('div', {role: 'alert'});
    const form = h('form', {class: 'stack', id: 'bucket-form', on: {submit: async (ev) => {
      ev.preventDefault();
      const body = {public: pub.checked, file_size_limit: size.value.trim() || null,
        allowed_mime_types: mimes.value.trim() ? mimes.value.split(',').map((s) => s.trim()).filter(Boolean) : null};
      try {
        if (b) await api.pub(ref, 'PUT', `/storage/v1/bucket/${encodeURIComponent(b.id)}`, {body});
        else await api.pub(ref, 'POST', '/storage/v1/bucket', {body: {...body, name: name.value.trim(), id: name.value.trim()}});
        close();
        toast(b ? 'Bucket saved' : 'Bucket created');
        if (!b) current = {id: name.value.trim()};
        loadBuckets();
      } catch (e) {
        mount(status, errorBox(e));
      }
    }}},
    h('label', {for: 'bucket-name'}, 'Name'), name,
    h('label', {class: 'check'}, pub, ' Public: anyone can download its files by URL'),
    h('label', {for: 'bucket-size'}, 'File size limit'), size,
    h('label', {for: 'bucket-mimes'}, 'Allowed MIME types'), mimes,
    status, h('button', {type: 'submit', class: 'primary'}, b ? 'Save bucket' : 'Create bucket'));
    const close = modal(b ? `Bucket ${b.name}` : 'New bucket', form);
    (b ? pub : name).focus();
  }

  await loadBuckets();
}
