// Projects and their classes: list, create, show, delete; add, rename and remove a class.
import type { FastifyInstance } from 'fastify';
import {
  JSON_BODY_ERRORS,
  PROJECT_ERRORS,
  errorResponses,
  json,
  noContent,
  pathParams,
  ref,
  zodBody,
} from '../api-schemas.js';
import { ClassNameBody, CreateProjectBody, parseBody } from '../bodies.js';
import type { RouteOptions } from '../context.js';
import { projectView, publishChange } from '../project-events.js';
import { validateName } from '../projects.js';

type P = { Params: { project: string } };
type PC = { Params: { project: string; class: string } };

const PROJECT = { project: 'project name' };
const PROJECT_CLASS = { project: 'project name', class: 'class name' };

const projectList = {
  type: 'object',
  properties: {
    projects: { type: 'array', items: ref('Project') },
    damaged: {
      type: 'array',
      items: {
        type: 'object',
        properties: { name: { type: 'string' }, damaged: { const: true }, reason: { type: 'string' } },
      },
    },
  },
};

export async function projectRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const { store, jobs } = ctx;

  app.get(
    '/v1/projects',
    {
      schema: {
        summary:
          'List projects; those whose project.json cannot be read are listed under damaged, with the reason (their endpoints answer 409 project_damaged; nothing is changed)',
        response: { 200: json(projectList, 'projects') },
      },
    },
    async () => store.list(),
  );

  app.post(
    '/v1/projects',
    {
      schema: {
        summary: 'Create a project',
        body: zodBody(CreateProjectBody),
        response: {
          201: json(ref('Project'), 'created'),
          ...errorResponses(...JSON_BODY_ERRORS, 'invalid_name', 'duplicate_class', 'project_exists'),
        },
      },
    },
    async (req, reply) => {
      const b = parseBody(CreateProjectBody, req.body);
      reply.code(201).send(await store.create(b.name, b.classes ?? []));
    },
  );

  app.get<P>(
    '/v1/projects/:project',
    {
      schema: {
        summary: 'A project with its classes, image counts, latest bundle and running job',
        params: pathParams(PROJECT),
        response: { 200: json(ref('Project'), 'project'), ...errorResponses(...PROJECT_ERRORS) },
      },
    },
    async (req) => projectView(store, jobs, req.params.project),
  );

  app.delete<P>(
    '/v1/projects/:project',
    {
      schema: {
        summary: 'Delete a project and all its files',
        params: pathParams(PROJECT),
        response: { 204: noContent('deleted'), ...errorResponses(...PROJECT_ERRORS, 'project_busy') },
      },
    },
    async (req, reply) => {
      const name = validateName('project', req.params.project);
      await store.remove(name);
      ctx.projectModels.drop(name);
      ctx.events.publish(name, 'project-removed', { name });
      reply.code(204).send();
    },
  );

  app.post<P>(
    '/v1/projects/:project/classes',
    {
      schema: {
        summary: 'Add a class',
        params: pathParams(PROJECT),
        body: zodBody(ClassNameBody),
        response: {
          201: json(ref('Project'), 'the project'),
          ...errorResponses(...JSON_BODY_ERRORS, ...PROJECT_ERRORS, 'class_exists'),
        },
      },
    },
    async (req, reply) => {
      const p = await store.addClass(req.params.project, parseBody(ClassNameBody, req.body).name);
      await publishChange(ctx, p.name, 'classes', { change: 'added', name: p.classes.at(-1)?.name });
      reply.code(201).send(p);
    },
  );

  app.patch<PC>(
    '/v1/projects/:project/classes/:class',
    {
      schema: {
        summary: 'Rename a class',
        params: pathParams(PROJECT_CLASS),
        body: zodBody(ClassNameBody),
        response: {
          200: json(ref('Project'), 'the project'),
          ...errorResponses(...JSON_BODY_ERRORS, ...PROJECT_ERRORS, 'class_not_found', 'class_exists', 'project_busy'),
        },
      },
    },
    async (req) => {
      const to = parseBody(ClassNameBody, req.body).name;
      const p = await store.renameClass(req.params.project, req.params.class, to);
      await publishChange(ctx, p.name, 'classes', {
        change: 'renamed',
        from: req.params.class,
        name: to.trim().normalize('NFC'),
      });
      return p;
    },
  );

  app.delete<PC>(
    '/v1/projects/:project/classes/:class',
    {
      schema: {
        summary: 'Remove a class and its images',
        params: pathParams(PROJECT_CLASS),
        response: {
          200: json(ref('Project'), 'the project'),
          ...errorResponses(...PROJECT_ERRORS, 'class_not_found', 'project_busy'),
        },
      },
    },
    async (req) => {
      const p = await store.removeClass(req.params.project, req.params.class);
      await publishChange(ctx, p.name, 'classes', { change: 'removed', name: req.params.class });
      return p;
    },
  );
}
