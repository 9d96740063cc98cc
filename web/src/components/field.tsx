import type { ComponentChildren } from 'preact';

/** A labelled form control with its hint and the API's message for it, tied together for screen readers. */
export function Field(props: { id: string; label: string; hint?: string; error?: string; children: (describedBy: string | undefined, invalid: boolean) => ComponentChildren }) {
  const describedBy = [props.hint ? `${props.id}-hint` : '', props.error ? `${props.id}-error` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div class={`field${props.error ? ' invalid' : ''}`}>
      <label for={props.id}>{props.label}</label>
      {props.children(describedBy, Boolean(props.error))}
      {props.hint && (
        <p class="hint" id={`${props.id}-hint`}>
          {props.hint}
        </p>
      )}
      {props.error && (
        <p class="field-error" id={`${props.id}-error`}>
          {props.error}
        </p>
      )}
    </div>
  );
}
