import { registerDecorator, ValidateIf, type ValidationOptions } from 'class-validator';

// Validators any DTO may use, on top of class-validator's own.

/** May be left out, but never null: its validators then run on null and refuse it. */
export const Omittable = (): PropertyDecorator => ValidateIf((_object, value) => value !== undefined);

/** A JSON value whose serialised form is at most `maxBytes` bytes (UTF-8). */
export function MaxJsonBytes(maxBytes: number, options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'maxJsonBytes',
      target: target.constructor,
      propertyName: propertyName as string,
      options,
      validator: {
        validate: (value: unknown) => Buffer.byteLength(JSON.stringify(value) ?? '') <= maxBytes,
        defaultMessage: (args) => `${args?.property} must be at most ${maxBytes} bytes as JSON`,
      },
    });
}
