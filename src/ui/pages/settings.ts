import type { SettingsResponse } from '../../api/settings.ts';
import type { ImpactFactors } from '../../query/impact.ts';
import { ApiError, getJson } from '../api.ts';
import { escapeHtml } from '../format.ts';
import type { PageContext } from '../main.ts';

type Factor = keyof ImpactFactors;

/** What each factor means, in the words of the people who set them. */
const FACTORS: { key: Factor; label: string; unit: string; help: string }[] = [
  {
    key: 'costPerCoreHourUsd',
    label: 'Cost per core-hour',
    unit: 'USD',
    help: 'What one CPU core costs for an hour, for hosts without a cloud discount below.',
  },
  {
    key: 'awsCostDiscountPercent',
    label: 'AWS discount',
    unit: '%',
    help: 'Percent off the cost for hosts on AWS (cloud.provider aws), e.g. an Enterprise Discount Program.',
  },
  {
    key: 'azureCostDiscountPercent',
    label: 'Azure discount',
    unit: '%',
    help: 'Percent off the cost for hosts on Azure (cloud.provider azure), e.g. an Enterprise Agreement.',
  },
  {
    key: 'co2TonsPerKwh',
    label: 'Grid carbon intensity',
    unit: 't CO2 / kWh',
    help: "CO2 emitted per kilowatt-hour by the data center's electricity (the default: US East).",
  },
  {
    key: 'datacenterPue',
    label: 'Data center PUE',
    unit: '',
    help: 'Power usage effectiveness: total facility power ÷ IT power (AWS about 1.135, GCP 1.1, Azure 1.185).',
  },
  {
    key: 'wattsPerCoreX86',
    label: 'Watts per core, x86',
    unit: 'W',
    help: 'Average power of one x86 core at full use.',
  },
  {
    key: 'wattsPerCoreArm64',
    label: 'Watts per core, ARM64',
    unit: 'W',
    help: 'Average power of one ARM64 core at full use.',
  },
  {
    key: 'samplingFrequencyHz',
    label: 'Sampling frequency',
    unit: 'Hz',
    help: "The agents' sampling frequency: samples ÷ frequency = CPU seconds (the agent's default is 20).",
  },
];

function date(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}

function formHtml(settings: SettingsResponse): string {
  const { values, defaults, limits, overridden } = settings.impact;
  const disabled = settings.canEdit ? '' : ' disabled';
  const rows = FACTORS.map(({ key, label, unit, help }) => {
    const changed = overridden.includes(key);
    const limit = limits[key];
    return `<tr data-factor="${key}"${changed ? ' class="changed"' : ''}>
        <th scope="row"><label for="factor-${key}">${escapeHtml(label)}</label><div class="muted help">${escapeHtml(help)}</div></th>
        <td class="num"><input id="factor-${key}" name="${key}" type="number" step="any" min="${limit.min}" max="${limit.max}" required value="${values[key]}"${disabled}> ${escapeHtml(unit)}</td>
        <td class="num default" data-default="${defaults[key]}">${defaults[key]}</td>
        <td class="state">${changed ? '<span class="changed-marker">changed</span>' : '<span class="muted">default</span>'}${
          settings.canEdit && changed
            ? ` <button type="button" class="reset-one" data-reset="${key}">Reset</button>`
            : ''
        }</td>
      </tr>`;
  }).join('');
  const lastChange =
    settings.impact.updatedAt !== undefined
      ? `<p class="muted" id="settings-updated">Last changed ${escapeHtml(date(settings.impact.updatedAt))}${
          settings.impact.updatedBy ? ` by ${escapeHtml(settings.impact.updatedBy)}` : ''
        }.</p>`
      : '';
  const readOnly = settings.canEdit
    ? ''
    : `<p class="notice" id="settings-read-only">Read-only: ${escapeHtml(settings.readOnlyReason ?? 'you may not change the settings')}.</p>`;
  return `<h3>CO2 and cost factors</h3>
    <p class="muted">Every view and the API estimate CPU time, annualised CO2 and cost from these. Defaults come from the
    server's configuration (<code>query.*</code>); a changed value is kept in the store, shared by every server on it.</p>
    ${readOnly}
    <form id="settings-form" class="settings" novalidate>
      <table class="grid"><thead><tr><th>Factor</th><th class="num">Value</th><th class="num">Default</th><th></th></tr></thead>
      <tbody>${rows}</tbody></table>
      ${
        settings.canEdit
          ? `<div class="toolbar"><button type="submit" id="settings-save">Save</button>
             <button type="button" id="settings-reset-all"${overridden.length === 0 ? ' disabled' : ''}>Reset all to defaults</button>
             <span id="settings-message" role="status"></span></div>`
          : ''
      }
    </form>
    ${lastChange}`;
}

/** The changed factors to send: the inputs whose value is not the default (PUT replaces the whole set). */
function overridesOf(form: HTMLFormElement, defaults: ImpactFactors, skip?: Factor): Partial<ImpactFactors> {
  const overrides: Partial<ImpactFactors> = {};
  for (const { key } of FACTORS) {
    if (key === skip) continue;
    const input = form.elements.namedItem(key) as HTMLInputElement;
    const value = input.value.trim() === '' ? Number.NaN : Number(input.value);
    // NaN is sent as a string so that the server names the field instead of JSON turning it into null.
    if (Number.isNaN(value)) (overrides as Record<string, unknown>)[key] = input.value;
    else if (value !== defaults[key]) overrides[key] = value;
  }
  return overrides;
}

async function save(overrides: Partial<ImpactFactors>): Promise<SettingsResponse> {
  const response = await fetch('/api/settings', {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ impact: overrides }),
  });
  const body = (await response.json()) as SettingsResponse & { message?: string };
  if (!response.ok) throw new ApiError(body.message ?? response.statusText, response.status);
  return body;
}

export async function renderSettings({ root }: PageContext): Promise<void> {
  const show = (settings: SettingsResponse, message?: { text: string; error?: boolean }) => {
    root.innerHTML = formHtml(settings);
    const form = root.querySelector<HTMLFormElement>('#settings-form')!;
    const status = root.querySelector<HTMLElement>('#settings-message');
    if (status && message) {
      status.textContent = message.text;
      status.className = message.error ? 'error-text' : 'muted';
    }
    const submit = async (overrides: Partial<ImpactFactors>) => {
      try {
        show(await save(overrides), { text: 'Saved: every view uses the new values now.' });
      } catch (error) {
        if (status) {
          status.textContent = (error as Error).message;
          status.className = 'error-text';
        }
      }
    };
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void submit(overridesOf(form, settings.impact.defaults));
    });
    root.querySelector('#settings-reset-all')?.addEventListener('click', () => void submit({}));
    for (const button of root.querySelectorAll<HTMLButtonElement>('button[data-reset]')) {
      button.addEventListener('click', () => {
        void submit(overridesOf(form, settings.impact.defaults, button.dataset.reset as Factor));
      });
    }
  };
  show(await getJson<SettingsResponse>('/api/settings', new URLSearchParams()));
}
